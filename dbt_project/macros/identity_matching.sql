{#- Probabilistic record matching: match keys, blocking and comparison levels.
    See docs/identity.md for the method. -#}


{#- A name as a match key: lower case, accents and everything but letters removed. -#}
{% macro name_key(expression) -%}
    nullif({{ regexp_replace_all('lower(' ~ strip_accents('replace(' ~ expression ~ ", 'ß', 'ss')") ~ ')', '[^a-z]', '') }}, '')
{%- endmacro %}


{#- A postcode as a match key: letters and digits only, upper case. -#}
{% macro postcode_key(expression) -%}
    nullif({{ regexp_replace_all('upper(' ~ expression ~ ')', '[^A-Z0-9]', '') }}, '')
{%- endmacro %}


{#- A street as a match key: lower case without accents or punctuation, with the
    usual abbreviations written out (Rd, St, Str., Ave ...), so 'BERGSTR. 8' and
    'Bergstraße 8' agree. -#}
{% macro street_key(expression) -%}
    {%- set abbreviations = [
        ('str', 'strasse'), ('rd', 'road'), ('st', 'street'), ('ave', 'avenue'), ('av', 'avenue'),
        ('ln', 'lane'), ('dr', 'drive'), ('ct', 'court'), ('pl', 'place'), ('sq', 'square'),
        ('cres', 'crescent'), ('tce', 'terrace'), ('hwy', 'highway'), ('blvd', 'boulevard'),
        ('mt', 'mount'), ('nth', 'north'), ('sth', 'south'), ('bd', 'boulevard'),
    ] -%}
    {%- set text = regexp_replace_all(
        'lower(' ~ strip_accents("replace(replace(" ~ expression ~ ", 'ß', 'ss'), 'ẞ', 'ss')") ~ ')', '[^a-z0-9 ]', ' '
    ) -%}
    {%- for short, long in abbreviations -%}
        {%- set text = regexp_replace_all(text, '\\b' ~ short ~ '\\b', long) -%}
    {%- endfor -%}
    {#- 'bergstrasse' and 'berg strasse' are one street -#}
    nullif({{ regexp_replace_all(text, '\\s+', '') }}, '')
{%- endmacro %}


{#- The comparisons of a candidate pair. Each has levels from strongest to weakest
    agreement; a pair gets the first level whose condition holds, else 0
    (disagree), or -1 when either value is missing (no evidence either way).
    `uses` names the match-record columns a comparison reads, so that m is not
    estimated for a comparison from pairs blocked on its own columns.
    `term_frequency` names a column whose exact agreement is weighed by how
    common the value is (two Smiths agree by chance far more often than two
    Featherstonehaughs; a placeholder birth date is common): the exact level's
    u becomes the value's frequency.
    Level n of k is stored as k - position: the strongest level is the highest.
    First and last names swapped count as exact on both: as a level of their own
    they are never seen in random pairs and would weigh far too much. One
    record's first name found in the other's last-name field (a source with a
    single name field, or swapped names with a typo) is a weak level of its own.
    One edit covers short names Jaro-Winkler misses (leo / elo) and a typo in a
    nickname (jimmy / jsmes: canonical james). The more partial levels there
    are, the narrower 'disagree' (level 0) is, which is what a veto acts on. E-mail is
    exact or not: local parts are made of names, so a similar address adds
    little that the name comparisons have not said already. -#}
{% macro identity_comparisons() -%}
    {{ return([
        {'name': 'first_name', 'uses': ['first_name_key', 'first_name_canonical', 'first_name_initial'], 'term_frequency': 'first_name_key',
         'missing': 'l.first_name_key is null or r.first_name_key is null',
         'levels': [
            ('exact', 'l.first_name_key = r.first_name_key or (l.first_name_key = r.last_name_key and l.last_name_key = r.first_name_key)'),
            ('nickname', arrays_overlap('l.first_name_forms', 'r.first_name_forms')),
            ('initial', "(length(l.first_name_key) = 1 or length(r.first_name_key) = 1) and left(l.first_name_key, 1) = left(r.first_name_key, 1)"),
            ('jaro_winkler_0.92', jaro_winkler_similarity('l.first_name_key', 'r.first_name_key') ~ ' >= 0.92'),
            ('one_edit', one_edit('l.first_name_key', 'r.first_name_key')
                ~ ' or ' ~ one_edit('l.first_name_canonical', 'r.first_name_canonical')),
            ('jaro_winkler_0.80', jaro_winkler_similarity('l.first_name_key', 'r.first_name_key') ~ ' >= 0.80'),
            ('in_other_name_field', jaro_winkler_similarity('l.first_name_key', 'r.last_name_key') ~ ' >= 0.92 or '
                ~ jaro_winkler_similarity('l.last_name_key', 'r.first_name_key') ~ ' >= 0.92'),
         ]},
        {'name': 'last_name', 'uses': ['last_name_key', 'last_name_initial'], 'term_frequency': 'last_name_key',
         'missing': 'l.last_name_key is null or r.last_name_key is null',
         'levels': [
            ('exact', 'l.last_name_key = r.last_name_key or (l.first_name_key = r.last_name_key and l.last_name_key = r.first_name_key)'),
            ('jaro_winkler_0.92', jaro_winkler_similarity('l.last_name_key', 'r.last_name_key') ~ ' >= 0.92'),
            ('jaro_winkler_0.80', jaro_winkler_similarity('l.last_name_key', 'r.last_name_key') ~ ' >= 0.80'),
         ]},
        {'name': 'birth_date', 'uses': ['birth_date', 'birth_date_digits'], 'term_frequency': 'birth_date',
         'missing': 'l.birth_date is null or r.birth_date is null',
         'levels': [
            ('exact', 'l.birth_date = r.birth_date'),
            ('one_digit_or_day_month_swapped',
                'levenshtein(l.birth_date_digits, r.birth_date_digits) <= 1'
                ~ ' or (year(l.birth_date) = year(r.birth_date) and month(l.birth_date) = day(r.birth_date)'
                ~ ' and day(l.birth_date) = month(r.birth_date))'),
            ('two_digits', 'levenshtein(l.birth_date_digits, r.birth_date_digits) <= 2'),
         ]},
        {'name': 'postcode', 'uses': ['postcode_key'], 'term_frequency': 'postcode_key',
         'missing': 'l.postcode_key is null or r.postcode_key is null',
         'levels': [
            ('exact', 'l.postcode_key = r.postcode_key'),
            ('one_character', 'levenshtein(l.postcode_key, r.postcode_key) <= 1'),
            ('same_district', 'left(l.postcode_key, 3) = left(r.postcode_key, 3)'),
         ]},
        {'name': 'street', 'uses': ['street_key', 'street_number', 'street_name_key'], 'term_frequency': 'street_key',
         'missing': 'l.street_key is null or r.street_key is null',
         'levels': [
            ('exact', 'l.street_key = r.street_key'),
            ('same_number_similar_name',
                'l.street_number = r.street_number and ' ~ jaro_winkler_similarity('l.street_name_key', 'r.street_name_key') ~ ' >= 0.88'),
            ('jaro_winkler_0.88', jaro_winkler_similarity('l.street_key', 'r.street_key') ~ ' >= 0.88'),
         ]},
        {'name': 'city', 'uses': ['city_key'], 'term_frequency': 'city_key',
         'missing': 'l.city_key is null or r.city_key is null',
         'levels': [
            ('exact', 'l.city_key = r.city_key'),
            ('jaro_winkler_0.88', jaro_winkler_similarity('l.city_key', 'r.city_key') ~ ' >= 0.88'),
         ]},
        {'name': 'email', 'uses': ['email_key', 'email_local_part'],
         'missing': 'l.email_key is null or r.email_key is null',
         'levels': [
            ('exact', 'l.email_key = r.email_key'),
         ]},
        {'name': 'phone', 'uses': ['phone'],
         'missing': 'l.phone is null or r.phone is null',
         'levels': [
            ('exact', 'l.phone = r.phone'),
            ('one_digit', 'levenshtein(l.phone, r.phone) <= 1'),
         ]},
    ]) }}
{%- endmacro %}


{#- At most one insertion, deletion, substitution or transposition of adjacent
    letters (Damerau-Levenshtein <= 1). DuckDB's damerau_levenshtein is about ten
    times slower than levenshtein, so the transposition test only runs on the few
    pairs it can save: as long as each other, and two edits apart for levenshtein. -#}
{% macro one_edit(left, right) -%}
    (levenshtein({{ left }}, {{ right }}) <= 1
        or (length({{ left }}) = length({{ right }}) and levenshtein({{ left }}, {{ right }}) = 2
            and {{ is_adjacent_transposition(left, right) }}))
{%- endmacro %}


{#- The level of one comparison for the pair (l, r), as described above. -#}
{% macro comparison_level(comparison) -%}
    {%- set n = comparison.levels | length -%}
    case
        when {{ comparison.missing }} then -1
        {%- for label, condition in comparison.levels %}
        when {{ condition }} then {{ n - loop.index0 }}
        {%- endfor %}
        else 0
    end
{%- endmacro %}


{#- Every comparison's level for the pair (l, r), as columns gamma_<name>. -#}
{% macro comparison_level_columns() -%}
    {%- for comparison in identity_comparisons() %}
        {{ comparison_level(comparison) }} as gamma_{{ comparison.name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}


{#- The match-record columns the comparison levels read, found in their SQL (l.<column>,
    r.<column>), so the list cannot fall behind the comparisons. -#}
{% macro identity_compared_columns() -%}
    {{ return(modules.re.findall('\\b[lr]\\.([a-z_]+)', comparison_level_columns()) | unique | sort | list) }}
{%- endmacro %}


{#- A record's compared columns as one 60-bit hash (int_identity_match_records): the key
    under which a pair's comparison levels are stored (int_identity_pair_comparisons). Two
    records with different values share a fingerprint with probability about n^2 / 2^61
    for n distinct records: 3 in a million at 2.5 million records. -#}
{% macro comparison_fingerprint() -%}
    {#- arrays as text the same on every engine (a cast writes a null element as NULL or null) -#}
    {%- set array_columns = ['first_name_forms'] -%}
    {%- set parts = [] -%}
    {%- for column in identity_compared_columns() -%}
        {%- do parts.append(array_join(column, "'|'") if column in array_columns else column) -%}
    {%- endfor -%}
    {{ md5_bigint(surrogate_key_text(parts)) }}
{%- endmacro %}


{#- The version of the comparison levels' SQL: stored comparisons of another version are
    computed again (int_identity_pair_comparisons). -#}
{% macro comparison_version() -%}
    {{ return(local_md5(comparison_level_columns())) }}
{%- endmacro %}


{#- The blocked pairs (a CTE `blocked_pairs`) joined to their kept comparison levels (a CTE
    `comparisons`, int_identity_pair_comparisons) on both records' comparison fingerprints.
    A left join: a pair without its comparison stays, with null levels, and
    tests/assert_every_blocked_pair_is_compared finds it. -#}
{% macro join_kept_comparisons() -%}
left join comparisons
        on comparisons.comparison_fingerprint_l = blocked_pairs.comparison_fingerprint_l
        and comparisons.comparison_fingerprint_r = blocked_pairs.comparison_fingerprint_r
{%- endmacro %}


{#- Whether a veto (var identity_vetoes) applies to a pair, from its comparison levels
    (gamma_<name>): a pair that clearly differs on `disagree` (level 0) never links, unless
    `unless_agree` is at one of its two strongest levels. Read by the pair scores and by the vetoed-pair count of
    identity_resolution_stats (from the candidate patterns: a veto needs the levels alone). -#}
{% macro identity_veto() -%}
    {%- set levels_by_name = {} -%}
    {%- for comparison in identity_comparisons() -%}
        {%- do levels_by_name.update({comparison.name: comparison.levels | length}) -%}
    {%- endfor -%}
    {%- set vetoes = var('identity_vetoes') -%}
    {%- for veto in vetoes -%}
        {%- for field in ['disagree', 'unless_agree'] if veto[field] is defined and veto[field] not in levels_by_name -%}
            {{ exceptions.raise_compiler_error("var identity_vetoes, field '" ~ field ~ "': unknown comparison '" ~ veto[field] ~ "' (one of: " ~ levels_by_name.keys() | join(', ') ~ ")") }}
        {%- endfor -%}
        {%- if veto.disagree is not defined -%}
            {{ exceptions.raise_compiler_error("var identity_vetoes, veto " ~ loop.index ~ ": needs 'disagree'") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if vetoes -%}
    (
        {%- for veto in vetoes %}
        (gamma_{{ veto.disagree }} = 0
            {%- if veto.unless_agree is defined %}
            and gamma_{{ veto.unless_agree }} < {{ levels_by_name[veto.unless_agree] - 1 }}
            {%- endif %})
        {%- if not loop.last %} or {% endif %}
        {%- endfor %}
    )
    {%- else -%}
    false
    {%- endif -%}
{%- endmacro %}


{#- Level labels of a comparison, index = level (0 = disagree). -#}
{% macro comparison_level_labels(comparison) -%}
    {%- set labels = ['disagree'] -%}
    {%- for label, condition in comparison.levels | reverse -%}
        {%- do labels.append(label) -%}
    {%- endfor -%}
    {{ return(labels) }}
{%- endmacro %}


{#- The equality conditions of a blocking rule between l and r. -#}
{% macro blocking_rule_condition(rule) -%}
    {%- for column in rule.columns -%}
        {%- if column is mapping -%}
            l.{{ column.left }} = r.{{ column.right }}
        {%- else -%}
            l.{{ column }} = r.{{ column }}
        {%- endif -%}
        {%- if not loop.last %} and {% endif -%}
    {%- endfor -%}
{%- endmacro %}


{#- The match-record columns a blocking rule reads. -#}
{% macro blocking_rule_columns(rule) -%}
    {%- set columns = [] -%}
    {%- for column in rule.columns -%}
        {%- if column is mapping -%}
            {%- do columns.extend([column.left, column.right]) -%}
        {%- else -%}
            {%- do columns.append(column) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(columns | unique | list) }}
{%- endmacro %}


{#- Comparisons whose m cannot be learnt from pairs selected by these columns. -#}
{% macro comparisons_using(columns) -%}
    {%- set names = [] -%}
    {%- for comparison in identity_comparisons() -%}
        {%- for column in comparison.uses if column in columns and comparison.name not in names -%}
            {%- do names.append(comparison.name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{#- Check the blocking rules in var identity_blocking_rules before any SQL runs. -#}
{% macro validated_blocking_rules(record_columns) -%}
    {%- set rules = var('identity_blocking_rules') -%}
    {%- set names = [] -%}
    {%- for rule in rules -%}
        {%- if rule is not mapping or 'name' not in rule or 'columns' not in rule -%}
            {{ exceptions.raise_compiler_error("var identity_blocking_rules, rule " ~ loop.index ~ ": needs 'name' and 'columns'") }}
        {%- endif -%}
        {%- if rule.name in names -%}
            {{ exceptions.raise_compiler_error("var identity_blocking_rules: rule name '" ~ rule.name ~ "' is used twice") }}
        {%- endif -%}
        {%- do names.append(rule.name) -%}
        {%- set mapped = rule.columns | select('mapping') | list | length -%}
        {%- if mapped not in (0, rule.columns | length) -%}
            {{ exceptions.raise_compiler_error("var identity_blocking_rules, rule '" ~ rule.name ~ "', field 'columns': give all columns as names or all as {left, right}, not a mix") }}
        {%- endif -%}
        {%- for column in blocking_rule_columns(rule) if column not in record_columns -%}
            {{ exceptions.raise_compiler_error("var identity_blocking_rules, rule '" ~ rule.name ~ "', field 'columns': unknown column '" ~ column ~ "' (one of: " ~ record_columns | join(', ') ~ ")") }}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(rules) }}
{%- endmacro %}


{#- pre_hook of int_identity_pair_comparisons: drop the stored comparisons that no longer
    serve, those of fingerprint pairs blocking no longer selects (a record changed, was
    erased, or left its blocks) or of other comparison SQL; the build then compares what is
    missing. -#}
{% macro delete_stale_pair_comparisons() -%}
    {%- if execute and this is not none and is_incremental() -%}
    delete from {{ this }}
    where comparison_version <> '{{ comparison_version() }}'
        or (comparison_fingerprint_l, comparison_fingerprint_r) not in (
            select comparison_fingerprint_l, comparison_fingerprint_r
            from {{ ref('int_identity_blocked_pairs') }}
        )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
