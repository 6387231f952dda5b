{#- md5 of the columns joined with '-', nulls written as a marker (as dbt_utils does),
    so a key is stable across runs and engines. -#}
{% macro surrogate_key(columns) -%}
    {{ dbt.hash(surrogate_key_text(columns)) }}
{%- endmacro %}


{#- The text surrogate_key hashes. -#}
{% macro surrogate_key_text(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '_dbt_utils_surrogate_key_null_')") -%}
        {%- if not loop.last -%}{%- do parts.append("'-'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}
