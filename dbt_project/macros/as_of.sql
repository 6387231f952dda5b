{#-
    Point-in-time runs. `as_of` ('YYYY-MM-DD', inclusive) is the last day whose
    data exists; without the var it is the latest UTC date in orders, events and
    email events. Every filter goes through these macros so a run as of a date
    behaves as if nothing after that date had been sent.
-#}

{#- The as-of date as a 'YYYY-MM-DD' string, resolved at compile time. -#}
{% macro as_of_date_string() -%}
    {%- set configured = var('as_of', none) -%}
    {%- if configured is not none and (configured | string | trim) not in ('', 'None', 'null') -%}
        {%- set value = configured | string | trim -%}
        {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', value) -%}
            {{ exceptions.raise_compiler_error("var as_of must be 'YYYY-MM-DD', got '" ~ value ~ "'") }}
        {%- endif -%}
        {{- modules.datetime.datetime.strptime(value, '%Y-%m-%d').date().isoformat() -}}
    {%- elif execute -%}
        {{- latest_data_date_string() -}}
    {%- else -%}
        {#- Parsing only: no query may run; the value is never executed. -#}
        {{- '1970-01-01' -}}
    {%- endif -%}
{%- endmacro %}


{#- Latest UTC date in the event-time sources; today (UTC) when they are empty or absent.
    Reads the relations from the graph rather than source() so that models using the
    as-of date do not appear to depend on raw tables. -#}
{% macro latest_data_date_string() -%}
    {%- set event_time_columns = {'orders': 'ordered_at', 'events': 'occurred_at', 'email_events': 'occurred_at'} -%}
    {%- set selects = [] -%}
    {%- for node in graph.sources.values()
            if node.source_name == 'landing' and node.name in event_time_columns -%}
        {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.identifier) -%}
        {%- if relation is not none -%}
            {%- do selects.append(
                'select ' ~ to_utc_timestamp('max(' ~ event_time_columns[node.name] ~ ')') ~ ' as latest_at from ' ~ relation
            ) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set latest = none -%}
    {%- if selects -%}
        {%- set query = 'select cast(max(latest_at) as date) as latest_date from (' ~ (selects | join(' union all ')) ~ ') as latest' -%}
        {%- set latest = run_query(query).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if latest is none -%}
        {%- set latest = modules.datetime.datetime.utcnow().date() -%}
    {%- endif -%}
    {{- latest.isoformat() if latest.isoformat is defined else (latest | string)[:10] -}}
{%- endmacro %}


{#- The as-of date as a SQL date. -#}
{% macro as_of_date() -%}
    cast('{{ as_of_date_string() }}' as date)
{%- endmacro %}


{#- The first instant after the as-of date (UTC midnight), as a SQL timestamp with time zone:
    event times at or after it do not exist yet. -#}
{% macro as_of_cutoff() -%}
    {%- set as_of = modules.datetime.datetime.strptime(as_of_date_string(), '%Y-%m-%d') -%}
    {%- set cutoff = as_of + modules.datetime.timedelta(days=1) -%}
    cast('{{ cutoff.strftime("%Y-%m-%d") }} 00:00:00+00:00' as {{ type_timestamp_tz() }})
{%- endmacro %}


{#- True when a raw timestamptz column is before the cutoff. keep_nulls: rows without a
    time (a record that never says when it changed) are kept. -#}
{% macro is_before_cutoff(column, keep_nulls=false) -%}
    {%- if keep_nulls -%}
        ({{ column }} is null or {{ column }} < {{ as_of_cutoff() }})
    {%- else -%}
        {{ column }} < {{ as_of_cutoff() }}
    {%- endif -%}
{%- endmacro %}


{#- pre_hook of an incremental model keeping one slice per as-of date: drop this
    run's slice before it is inserted again (a re-run, or a backfill). -#}
{% macro delete_as_of_rows() -%}
    {{ return(adapter.dispatch('delete_as_of_rows', 'cdp_warehouse')()) }}
{%- endmacro %}

{% macro default__delete_as_of_rows() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where as_of_date = {{ as_of_date() }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- Parquet tables take no delete: the insert_overwrite of as_of_slice_config replaces the slice. -#}
{% macro spark__delete_as_of_rows() -%}
    select 1
{%- endmacro %}


{#- Config of an incremental model keeping one slice per as-of date, beside its
    materialized='incremental' and the delete_as_of_rows pre-hook: on DuckDB rows are
    appended after the delete; on Spark the table is partitioned by as_of_date and a
    build overwrites its own date's partition (dynamic partition overwrite). -#}
{% macro as_of_slice_config() -%}
    {{ return(adapter.dispatch('as_of_slice_config', 'cdp_warehouse')()) }}
{%- endmacro %}

{% macro default__as_of_slice_config() -%}
    {{ return({}) }}
{%- endmacro %}

{% macro spark__as_of_slice_config() -%}
    {{ return({'incremental_strategy': 'insert_overwrite', 'partition_by': ['as_of_date'], 'file_format': 'parquet'}) }}
{%- endmacro %}


{#- The cutoff as a plain UTC timestamp, comparable with the event times of staging and
    later layers (which are UTC timestamps). -#}
{% macro as_of_cutoff_utc() -%}
    {{ to_utc_timestamp(as_of_cutoff()) }}
{%- endmacro %}


{#- True when a UTC timestamp column lies in the `length` `unit`s that end at the cutoff:
    [cutoff - length, cutoff). A 24-hour window of as-of 2026-01-31 is that whole day. -#}
{% macro is_in_window(column, length, unit='day') -%}
    ({{ column }} >= {{ dbt.dateadd(unit, -1 * (length | int), as_of_cutoff_utc()) }}
        and {{ column }} < {{ as_of_cutoff_utc() }})
{%- endmacro %}
