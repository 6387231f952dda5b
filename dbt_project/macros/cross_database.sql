{#-
    Engine-specific SQL behind adapter.dispatch: default__ is ANSI / PostgreSQL
    flavoured, duckdb__ is what this project runs on. Another adapter adds its own
    <adapter>__ macro without touching the models.
-#}

{#- A string literal, quotes escaped. -#}
{% macro sql_string(value) -%}
    '{{ value | replace("'", "''") }}'
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
