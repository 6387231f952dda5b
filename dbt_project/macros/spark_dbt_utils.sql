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


{#- Seeds: dbt-spark binds the values of dbt's parsed CSV into the insert with %s, which on the
    session method writes an empty cell as the text 'None' and breaks on a quote (Côte
    d'Ivoire), and dbt's CSV parsing already turned the junk value 'null' into a null. Spark
    reads the file itself here: empty cells are null, everything else is text cast to the
    column's type. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set path = model['root_path'] ~ '/' ~ model['original_file_path'] -%}
    {%- set csv_view = this.identifier ~ '__csv' -%}
    {%- do adapter.add_query(
        'create or replace temporary view ' ~ csv_view ~ ' using csv options (path ' ~ sql_string(path)
        ~ ", header 'true', inferSchema 'false', multiLine 'true', escape '\"')", auto_begin=false) -%}
    {%- set sql -%}
        insert into {{ this.render() }}
        select
            {%- for col_name in agate_table.column_names %}
            cast(`{{ col_name }}` as {{ column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) }})
            {%- if not loop.last %},{% endif %}
            {%- endfor %}
        from {{ csv_view }}
    {%- endset -%}
    {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
    {{ return(sql) }}
{% endmacro %}
