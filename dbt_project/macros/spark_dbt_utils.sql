{#-
    dbt's cross-database macros as dbt-spark implements them fall short of what this
    project relies on (and DuckDB does): its dateadd and datediff raise on a null input and
    drop sub-second precision, its listagg ignores the order, its split_part fails past the
    last part with ANSI mode on, and its safe_cast is a plain cast. The project's dispatch
    search order (dbt_project.yml) puts these first on Spark.
-#}

{#- DuckDB's date + interval: a timestamp, null in, null out. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart }}, cast({{ interval }} as bigint), {{ from_date_or_timestamp }})
{%- endmacro %}


{#- DuckDB's date_diff: the number of `datepart` boundaries crossed, not of whole units elapsed. -#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    timestampdiff({{ datepart }}, date_trunc('{{ datepart }}', {{ first_date }}), date_trunc('{{ datepart }}', {{ second_date }}))
{%- endmacro %}


{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if limit_num -%}
        {{ exceptions.raise_compiler_error("listagg with limit_num is not implemented for Spark in this project") }}
    {%- endif -%}
    listagg({{ measure }}, {{ delimiter_text }}){% if order_by_clause %} within group ({{ order_by_clause }}){% endif %}
{%- endmacro %}


{#- '' past the last part, as DuckDB's split_part. -#}
{% macro spark__split_part(string_text, delimiter_text, part_number) -%}
    split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- endmacro %}


{#- A value that does not convert becomes null (as duckdb__safe_cast). -#}
{% macro spark__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
