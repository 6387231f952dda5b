{#- dbt-duckdb's safe_cast is a plain cast; a value that does not convert must become null. -#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
