{#-
    Engine-specific SQL behind adapter.dispatch: duckdb__ is what this project runs on
    by default, spark__ is Apache Spark 4 (docs/spark.md), default__ is ANSI / PostgreSQL
    flavoured where standard SQL has the construct. Another adapter adds its own
    <adapter>__ macro without touching the models.
-#}

{#- A string literal, quotes escaped. -#}
{% macro sql_string(value) -%}
    {{ return(adapter.dispatch('sql_string', 'cdp_warehouse')(value)) }}
{%- endmacro %}

{% macro default__sql_string(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}

{#- Spark reads backslash escapes in string literals: backslashes and quotes get one. -#}
{% macro spark__sql_string(value) -%}
    '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}


{#- Replace every match of a regular expression. -#}
{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'cdp_warehouse')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ sql_string(pattern) }}, {{ sql_string(replacement) }}, 'g')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ sql_string(pattern) }}, {{ sql_string(replacement) }}, 'g')
{%- endmacro %}

{#- Spark's regexp_replace replaces every match (Java regular expressions). -#}
{% macro spark__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ sql_string(pattern) }}, {{ sql_string(replacement) }})
{%- endmacro %}


{#- True when the whole string matches a regular expression. -#}
{% macro regexp_full_match(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_full_match', 'cdp_warehouse')(expression, pattern)) }}
{%- endmacro %}

{% macro default__regexp_full_match(expression, pattern) -%}
    ({{ expression }} ~ {{ sql_string('^(?:' ~ pattern ~ ')$') }})
{%- endmacro %}

{% macro duckdb__regexp_full_match(expression, pattern) -%}
    regexp_full_match({{ expression }}, {{ sql_string(pattern) }})
{%- endmacro %}

{#- \z, not $: Java's $ also matches before a final line break. -#}
{% macro spark__regexp_full_match(expression, pattern) -%}
    ({{ expression }} rlike {{ sql_string('^(?:' ~ pattern ~ ')\\z') }})
{%- endmacro %}


{#- A timestamp with time zone as a plain timestamp in UTC. -#}
{% macro to_utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'cdp_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(expression) -%}
    cast(({{ expression }}) at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(expression) -%}
    timezone('UTC', {{ expression }})
{%- endmacro %}

{#- Spark's timestamp is an instant shown in the session time zone, which the spark target sets to UTC. -#}
{% macro spark__to_utc_timestamp(expression) -%}
    cast({{ expression }} as timestamp)
{%- endmacro %}


{#- The type of an instant with time zone (raw event times). -#}
{% macro type_timestamp_tz() -%}
    {{ return(adapter.dispatch('type_timestamp_tz', 'cdp_warehouse')()) }}
{%- endmacro %}

{% macro default__type_timestamp_tz() -%}
    timestamp with time zone
{%- endmacro %}

{% macro spark__type_timestamp_tz() -%}
    timestamp
{%- endmacro %}


{#- A top-level JSON member as text (null when missing or not JSON). -#}
{% macro json_extract_string(expression, member) -%}
    {{ return(adapter.dispatch('json_extract_string', 'cdp_warehouse')(expression, member)) }}
{%- endmacro %}

{% macro default__json_extract_string(expression, member) -%}
    (cast({{ expression }} as json) ->> {{ sql_string(member) }})
{%- endmacro %}

{% macro duckdb__json_extract_string(expression, member) -%}
    json_extract_string({{ expression }}, {{ sql_string('$.' ~ member) }})
{%- endmacro %}

{% macro spark__json_extract_string(expression, member) -%}
    get_json_object({{ expression }}, {{ sql_string('$.' ~ member) }})
{%- endmacro %}


{#- Upper-case the first letter of each word (words split on spaces and hyphens). -#}
{% macro initcap(expression) -%}
    {{ return(adapter.dispatch('initcap', 'cdp_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__initcap(expression) -%}
    initcap({{ expression }})
{%- endmacro %}

{% macro duckdb__initcap(expression) -%}
    array_to_string(
        list_transform(
            string_split(lower({{ expression }}), ' '),
            lambda word: array_to_string(
                list_transform(string_split(word, '-'), lambda part: upper(left(part, 1)) || substr(part, 2)),
                '-'
            )
        ),
        ' '
    )
{%- endmacro %}

{#- Spark's own initcap splits on spaces only. -#}
{% macro spark__initcap(expression) -%}
    array_join(
        transform(
            split(lower({{ expression }}), ' '),
            word -> array_join(transform(split(word, '-'), part -> upper(left(part, 1)) || substr(part, 2)), '-')
        ),
        ' '
    )
{%- endmacro %}


{#- Aggregate: the value at the row with the highest order key, ignoring null values. -#}
{% macro arg_max_non_null(value, order_key) -%}
    {{ return(adapter.dispatch('arg_max_non_null', 'cdp_warehouse')(value, order_key)) }}
{%- endmacro %}

{% macro default__arg_max_non_null(value, order_key) -%}
    max_by({{ value }}, case when {{ value }} is not null then {{ order_key }} end)
{%- endmacro %}

{% macro duckdb__arg_max_non_null(value, order_key) -%}
    arg_max({{ value }}, {{ order_key }}) filter (where {{ value }} is not null)
{%- endmacro %}

{% macro spark__arg_max_non_null(value, order_key) -%}
    max_by({{ value }}, {{ order_key }}) filter (where {{ value }} is not null)
{%- endmacro %}


{#- Aggregate: the value at the row with the highest order key, even when that value is null. -#}
{% macro arg_max_with_nulls(value, order_key) -%}
    {{ return(adapter.dispatch('arg_max_with_nulls', 'cdp_warehouse')(value, order_key)) }}
{%- endmacro %}

{% macro duckdb__arg_max_with_nulls(value, order_key) -%}
    arg_max_null({{ value }}, {{ order_key }})
{%- endmacro %}

{#- Spark's max_by keeps a null value (it skips null keys only). -#}
{% macro spark__arg_max_with_nulls(value, order_key) -%}
    max_by({{ value }}, {{ order_key }})
{%- endmacro %}


{#- A list of strings as an array literal ([] when empty). -#}
{% macro string_array(values) -%}
    {{ return(adapter.dispatch('string_array', 'cdp_warehouse')(values)) }}
{%- endmacro %}

{% macro duckdb__string_array(values) -%}
    cast({{ values | tojson | replace('"', "'") }} as varchar[])
{%- endmacro %}

{% macro spark__string_array(values) -%}
    cast(array({% for value in values %}{{ sql_string(value) }}{% if not loop.last %}, {% endif %}{% endfor %}) as array<string>)
{%- endmacro %}


{#- The element of an array at a 1-based position (null past its end). -#}
{% macro array_element(array, position) -%}
    {{ return(adapter.dispatch('array_element', 'cdp_warehouse')(array, position)) }}
{%- endmacro %}

{% macro duckdb__array_element(array, position) -%}
    {{ array }}[{{ position }}]
{%- endmacro %}

{% macro spark__array_element(array, position) -%}
    try_element_at({{ array }}, {{ position }})
{%- endmacro %}


{#- An array of the given expressions without the null ones. -#}
{% macro array_of_non_null(expressions) -%}
    {{ return(adapter.dispatch('array_of_non_null', 'cdp_warehouse')(expressions)) }}
{%- endmacro %}

{% macro duckdb__array_of_non_null(expressions) -%}
    list_filter([{{ expressions | join(', ') }}], lambda element: element is not null)
{%- endmacro %}

{% macro spark__array_of_non_null(expressions) -%}
    filter(array({{ expressions | join(', ') }}), element -> element is not null)
{%- endmacro %}


{#- The array with one element put in front. -#}
{% macro array_prepend(element, array) -%}
    {{ return(adapter.dispatch('array_prepend', 'cdp_warehouse')(element, array)) }}
{%- endmacro %}

{% macro duckdb__array_prepend(element, array) -%}
    list_prepend({{ element }}, {{ array }})
{%- endmacro %}

{% macro spark__array_prepend(element, array) -%}
    concat(array({{ element }}), {{ array }})
{%- endmacro %}


{#- Whether two arrays share an element. -#}
{% macro arrays_overlap(left, right) -%}
    {{ return(adapter.dispatch('arrays_overlap', 'cdp_warehouse')(left, right)) }}
{%- endmacro %}

{% macro duckdb__arrays_overlap(left, right) -%}
    list_has_any({{ left }}, {{ right }})
{%- endmacro %}

{% macro spark__arrays_overlap(left, right) -%}
    arrays_overlap({{ left }}, {{ right }})
{%- endmacro %}


{#- The elements of an array as text, joined by a separator (a string literal); null elements
    are left out, so an array of nulls gives '' (DuckDB's array_to_string gives null for
    [null] but '' for [], Spark's array_join '' for both). -#}
{% macro array_join(array, separator) -%}
    {{ return(adapter.dispatch('array_join', 'cdp_warehouse')(array, separator)) }}
{%- endmacro %}

{% macro duckdb__array_join(array, separator) -%}
    coalesce(array_to_string({{ array }}, {{ separator }}), case when {{ array }} is not null then '' end)
{%- endmacro %}

{% macro spark__array_join(array, separator) -%}
    array_join({{ array }}, {{ separator }})
{%- endmacro %}


{#- Aggregate: the values (nulls too) as an array in the order of order_by, optionally
    distinct and over the rows where `where` holds; null when no row is aggregated. `over`:
    a window specification, to use it as a window function. -#}
{% macro ordered_array_agg(value, order_by, distinct=false, where=none, over=none) -%}
    {{ return(adapter.dispatch('ordered_array_agg', 'cdp_warehouse')(value, order_by, distinct, where, over)) }}
{%- endmacro %}

{% macro duckdb__ordered_array_agg(value, order_by, distinct=false, where=none, over=none) -%}
    list({% if distinct %}distinct {% endif %}{{ value }} order by {{ order_by }})
    {%- if where %} filter (where {{ where }}){% endif %}
    {%- if over %} over ({{ over }}){% endif %}
{%- endmacro %}

{#- collect_list keeps no order and drops nulls: collect (key, value) pairs, which are never
    null unless `where` leaves the row out, sort them and keep the values. -#}
{% macro spark__ordered_array_agg(value, order_by, distinct=false, where=none, over=none) -%}
    {%- set pair = 'struct(' ~ order_by ~ ' as sort_key, ' ~ value ~ ' as element)' -%}
    {%- set collected -%}
        {% if distinct %}collect_set{% else %}collect_list{% endif %}(
            {%- if where %}case when {{ where }} then {{ pair }} end{% else %}{{ pair }}{% endif -%}
        ){% if over %} over ({{ over }}){% endif %}
    {%- endset -%}
    case when size({{ collected }}) > 0 then transform(array_sort({{ collected }}), pair -> pair.element) end
{%- endmacro %}


{#- A date as 'YYYYMMDD' text. -#}
{% macro date_digits(expression) -%}
    {{ return(adapter.dispatch('date_digits', 'cdp_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__date_digits(expression) -%}
    strftime({{ expression }}, '%Y%m%d')
{%- endmacro %}

{% macro spark__date_digits(expression) -%}
    date_format({{ expression }}, 'yyyyMMdd')
{%- endmacro %}


{#- The first match of a regular expression (the whole match), null when none. -#}
{% macro regexp_first_match(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_first_match', 'cdp_warehouse')(expression, pattern)) }}
{%- endmacro %}

{% macro duckdb__regexp_first_match(expression, pattern) -%}
    regexp_extract({{ expression }}, {{ sql_string(pattern) }})
{%- endmacro %}

{#- '' when nothing matches, as DuckDB's regexp_extract. -#}
{% macro spark__regexp_first_match(expression, pattern) -%}
    regexp_extract({{ expression }}, {{ sql_string(pattern) }}, 0)
{%- endmacro %}


{#- A deterministic pseudo-random sort key per value, to order rows "randomly" but the same
    way every run. DuckDB's hash() is its own and Spark cannot compute it, so the two engines
    order differently (the default of var identity_u_sample_order, md5, makes both use md5). -#}
{% macro stable_hash(expression) -%}
    {{ return(adapter.dispatch('stable_hash', 'cdp_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__stable_hash(expression) -%}
    hash({{ expression }})
{%- endmacro %}

{% macro spark__stable_hash(expression) -%}
    md5(cast({{ expression }} as string))
{%- endmacro %}


{#- The first 60 bits of a text's md5 as a bigint, the same on every engine: a compact key
    for joins on many rows (two integers join about three times faster than two md5 texts). -#}
{% macro md5_bigint(expression) -%}
    {{ return(adapter.dispatch('md5_bigint', 'cdp_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__md5_bigint(expression) -%}
    cast('0x' || left(md5({{ expression }}), 15) as bigint)
{%- endmacro %}

{% macro spark__md5_bigint(expression) -%}
    cast(conv(left(md5({{ expression }}), 15), 16, 10) as bigint)
{%- endmacro %}


{#- Aggregate: the mean as a double. DuckDB's avg of decimals is one; Spark's is a decimal
    with four more places (99.823333 where DuckDB has 99.82333333333334). -#}
{% macro avg_as_double(expression) -%}
    {{ return(adapter.dispatch('avg_as_double', 'cdp_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__avg_as_double(expression) -%}
    avg({{ expression }})
{%- endmacro %}

{% macro spark__avg_as_double(expression) -%}
    avg(cast({{ expression }} as double))
{%- endmacro %}


{#- The integers start..stop (inclusive) as a relation with the column `value`, stop an
    expression over `relation`'s columns (a one-row relation). -#}
{% macro integer_series(relation, start, stop) -%}
    {{ return(adapter.dispatch('integer_series', 'cdp_warehouse')(relation, start, stop)) }}
{%- endmacro %}

{% macro duckdb__integer_series(relation, start, stop) -%}
    select range as value
    from {{ relation }}
    cross join range({{ start }}, {{ stop }} + 1)
{%- endmacro %}

{#- sequence(a, b) counts down when b < a: the filter keeps an empty series empty. -#}
{% macro spark__integer_series(relation, start, stop) -%}
    select value
    from (
        select
            explode(sequence(cast({{ start }} as bigint), cast({{ stop }} as bigint))) as value,
            cast({{ start }} as bigint) as series_start,
            cast({{ stop }} as bigint) as series_stop
        from {{ relation }}
    ) as series
    where value between series_start and series_stop
{%- endmacro %}


{#- Accents removed from letters ('é' -> 'e'). -#}
{% macro strip_accents(expression) -%}
    {{ return(adapter.dispatch('strip_accents', 'cdp_warehouse')(expression)) }}
{%- endmacro %}

{% macro duckdb__strip_accents(expression) -%}
    strip_accents({{ expression }})
{%- endmacro %}

{#- Spark has no Unicode normalisation: the Latin letters whose canonical decomposition is an
    ASCII letter and combining marks become that letter (the table generated with Python's
    unicodedata; DuckDB's strip_accents agrees on every one), then combining marks are dropped. -#}
{% macro spark__strip_accents(expression) -%}
    regexp_replace(
        translate({{ expression }}, 'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ', 'AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaCcCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOoRrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzOoUuAaIiOoUuUuUuUuUuAaAaGgKkOoOojGgNnAaAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOoOoYyAaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHhHhHhHhHhIiIiKkKkKkLlLlLlLlMmMmMmNnNnNnNnOoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTtTtTtTtUuUuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwyAaAaAaAaAaAaAaAaAaAaAaAaEeEeEeEeEeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUuYyYyYyYy'),
        {{ sql_string('\\p{M}') }}, ''
    )
{%- endmacro %}


{#- Jaro-Winkler similarity (prefix scale 0.1, at most 4 letters, applied above 0.7). -#}
{% macro jaro_winkler_similarity(left, right) -%}
    {{ return(adapter.dispatch('jaro_winkler_similarity', 'cdp_warehouse')(left, right)) }}
{%- endmacro %}

{% macro duckdb__jaro_winkler_similarity(left, right) -%}
    jaro_winkler_similarity({{ left }}, {{ right }})
{%- endmacro %}

{#- Spark's own jaro_winkler_similarity scores differently from DuckDB's (another matching
    window), which moves pairs across the comparison thresholds. This is DuckDB's algorithm:
    each letter of left takes the first unmatched equal letter of right within
    max(len) / 2 - 1 places; transpositions are matched letters out of order, halved. -#}
{% macro spark__jaro_winkler_similarity(left, right) -%}
    {%- set window = 'greatest(greatest(length(' ~ left ~ '), length(' ~ right ~ ')) div 2 - 1, 0)' -%}
    {%- set next_match -%}
        try_element_at(filter(sequence(1, length({{ right }})), j -> j between i - {{ window }} and i + {{ window }}
            and not element_at(acc.matched_right, j) and substr({{ right }}, j, 1) = substr({{ left }}, i, 1)), 1)
    {%- endset -%}
    {%- set matching -%}
        aggregate(
            sequence(1, length({{ left }})),
            named_struct('matched_right', array_repeat(false, length({{ right }})), 'matched_left', cast(array() as array<int>)),
            (acc, i) -> element_at(transform(array({{ next_match }}), j -> case when j is null then acc else named_struct(
                'matched_right', transform(acc.matched_right, (flag, k) -> flag or k + 1 = j),
                'matched_left', concat(acc.matched_left, array(i))
            ) end), 1)
        )
    {%- endset -%}
    {%- set jaro -%}
        aggregate(
            array({{ matching }}),
            cast(0 as double),
            (unused, m) -> case when size(m.matched_left) = 0 then cast(0 as double) else (
                size(m.matched_left) / length({{ left }})
                + size(m.matched_left) / length({{ right }})
                + (size(m.matched_left) - size(filter(
                    zip_with(
                        transform(m.matched_left, i -> substr({{ left }}, i, 1)),
                        transform(filter(sequence(1, length({{ right }})), j -> element_at(m.matched_right, j)), j -> substr({{ right }}, j, 1)),
                        (a, b) -> a <> b
                    ), differs -> differs)) div 2) / size(m.matched_left)
            ) / 3 end
        )
    {%- endset -%}
    {%- set prefix = 'size(filter(sequence(1, least(4, length(' ~ left ~ '), length(' ~ right ~ '))), k -> substr(' ~ left ~ ', 1, k) = substr(' ~ right ~ ', 1, k)))' -%}
    case
        when {{ left }} is null or {{ right }} is null then null
        when {{ left }} = '' and {{ right }} = '' then cast(1 as double)
        when {{ left }} = '' or {{ right }} = '' then cast(0 as double)
        else aggregate(
            array({{ jaro }}),
            cast(0 as double),
            (unused, jaro) -> case when jaro > 0.7 then jaro + {{ prefix }} * cast(0.1 as double) * (1 - jaro) else jaro end
        )
    end
{%- endmacro %}


{#- For two strings of equal length two edits apart: whether swapping two adjacent letters
    of one gives the other (Damerau-Levenshtein distance 1). -#}
{% macro is_adjacent_transposition(left, right) -%}
    {{ return(adapter.dispatch('is_adjacent_transposition', 'cdp_warehouse')(left, right)) }}
{%- endmacro %}

{% macro duckdb__is_adjacent_transposition(left, right) -%}
    damerau_levenshtein({{ left }}, {{ right }}) <= 1
{%- endmacro %}

{% macro spark__is_adjacent_transposition(left, right) -%}
    exists(
        sequence(1, greatest(length({{ left }}) - 1, 1)),
        i -> substr({{ left }}, 1, i - 1) || substr({{ left }}, i + 1, 1) || substr({{ left }}, i, 1) || substr({{ left }}, i + 2)
            = {{ right }}
    )
{%- endmacro %}


{#- `<name> as {{ materialized_cte() }} (`: a CTE computed once, whatever the engine would choose.
    DuckDB inlined int_identity_match_records' match keys, a projection of regular expressions
    read by eight other CTEs, into each of them, materialising the plain select below it instead
    (at 1,000,000 customers the model took 24.9 s so, 15.1 s with the keys computed once). -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'cdp_warehouse')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}
{%- endmacro %}

{% macro duckdb__materialized_cte() -%}
    materialized
{%- endmacro %}
