{#-
    Incremental facts (docs/incremental.md). The staging models of the large, append-mostly
    sources (events, email events, orders) are incremental: a build reads only the raw rows
    that can change the table, so a daily run costs what the day's data costs.

    Which raw rows can change it, given what the table already holds:
    - rows of a load newer than any row in it (new files; a re-sent version of a key);
    - rows whose event time is at or after the latest it holds: the as-of cutoff kept them
      out before and may let them in now (a backfill that moves forward).
    That is a superset of what changed; each key in it is decided again among its new
    versions and the row the table holds (latest version wins, as in a full build), so
    reading a row twice changes nothing.

    When the as-of date moves back (the table holds rows at or after the cutoff), the table
    is emptied and built in full: a version replaced later may be the one that was current
    then. `dbt build --full-refresh` builds in full too; both give the same table as a
    sequence of incremental builds (tests/test_incremental.py).
-#}

{#- The materialisation of an incremental fact: incremental where the engine deletes rows
    (delete+insert by key), a table rebuilt in full each run on Spark's Parquet tables,
    which take no delete (docs/spark.md: Delta or Iceberg would allow merge). -#}
{% macro incremental_fact_materialization() -%}
    {{ return(adapter.dispatch('incremental_fact_materialization', 'cdp_warehouse')()) }}
{%- endmacro %}

{% macro default__incremental_fact_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__incremental_fact_materialization() -%}
    {{ return('table') }}
{%- endmacro %}


{#- How this build reads raw: {'mode': 'full'} for a first or full-refresh build,
    {'mode': 'rebuild'} when the cutoff moved back, else {'mode': 'delta', 'load_id': n,
    'times': {column: latest value}} for the time columns given. -#}
{% macro fact_build_mode(time_columns) -%}
    {%- if not execute or this is none or not is_incremental() -%}
        {{- return({'mode': 'full'}) -}}
    {%- endif -%}
    {%- set selects = ['max(_load_id)'] -%}
    {%- for column in time_columns -%}
        {%- do selects.append('max(' ~ column ~ ')') -%}
        {%- do selects.append('count(*) filter (where ' ~ column ~ ' >= ' ~ as_of_cutoff_utc() ~ ')') -%}
    {%- endfor -%}
    {%- set row = run_query('select ' ~ selects | join(', ') ~ ' from ' ~ this).rows[0] -%}
    {%- if row[0] is none -%}
        {{- return({'mode': 'rebuild'}) -}}
    {%- endif -%}
    {%- set times = {} -%}
    {%- for column in time_columns -%}
        {%- if row[2 + 2 * loop.index0] > 0 -%}
            {{- return({'mode': 'rebuild'}) -}}
        {%- endif -%}
        {%- do times.update({column: row[1 + 2 * loop.index0]}) -%}
    {%- endfor -%}
    {{- return({'mode': 'delta', 'load_id': row[0], 'times': times}) -}}
{%- endmacro %}


{#- A staged fact: its config (incremental, delete+insert on `key`, emptied first when the cutoff
    moved back) and how this build reads raw (fact_build_mode), from one call, so each model names
    its key and time columns once. -#}
{% macro staged_fact(key, time_columns) -%}
    {{- config(
        materialized=incremental_fact_materialization(),
        incremental_strategy='delete+insert',
        unique_key=key,
        on_schema_change='fail',
        pre_hook="{{ empty_fact_when_rebuilding(" ~ time_columns ~ ") }}",
    ) -}}
    {{- return(fact_build_mode(time_columns)) -}}
{%- endmacro %}


{#- pre_hook: empty the table when the cutoff moved back (the build then reads every raw row). -#}
{% macro empty_fact_when_rebuilding(time_columns) -%}
    {%- if fact_build_mode(time_columns)['mode'] == 'rebuild' -%}
        delete from {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#- `and (...)`: the raw rows a delta build reads. raw_times maps each stored time column to
    the raw instant (timestamptz) it is computed from. The raw expression is compared with the
    stored UTC time made an instant, never converted itself: a condition on a bare raw column
    reaches DuckDB's scan, which then skips every row group but the new ones (converting each
    raw row's time made it read all 48 million raw events, every column: the staged events'
    delta select took 10.8-16.2 s at 1,000,000 customers, and 4.3 s since). A nullable time column the table holds no value in (every held
    record lacks an updated_at) lets in any raw row with a value. -#}
{% macro fact_delta_filter(build, raw_times) -%}
    {%- if build['mode'] == 'delta' -%}
        and (
            _load_id > {{ build['load_id'] }}
            {%- for column, expression in raw_times.items() %}
            {%- if build['times'][column] is none %}
            or {{ expression }} is not null
            {%- else %}
            or {{ expression }} >= {{ utc_instant(build['times'][column]) }}
            {%- endif %}
            {%- endfor %}
        )
    {%- endif -%}
{%- endmacro %}

{#- A UTC timestamp (a stored time, as run_query returns it) as an instant literal. -#}
{% macro utc_instant(value) -%}
    cast('{{ value }}+00:00' as {{ type_timestamp_tz() }})
{%- endmacro %}

{#- The candidate rows of a build: the new versions, plus on a delta build the row the table
    holds for each of their keys, so the latest version is chosen among all of them. -#}
{% macro fact_candidates(build, new_versions, key_columns) -%}
    select * from {{ new_versions }}
    {%- if build['mode'] == 'delta' %}
    union all by name
    select * from {{ this }}
    where {{ held_rows_of_keys(new_versions, key_columns) }}
    {%- endif %}
{%- endmacro %}

{#- A condition on `this` (unqualified) for its rows whose key is among `relation`'s. -#}
{% macro held_rows_of_keys(relation, key_columns) -%}
    {{ return(adapter.dispatch('held_rows_of_keys', 'cdp_warehouse')(relation, key_columns)) }}
{%- endmacro %}

{% macro default__held_rows_of_keys(relation, key_columns) -%}
    ({{ key_columns | join(', ') }}) in (select {{ key_columns | join(', ') }} from {{ relation }})
{%- endmacro %}

{#- DuckDB: the keys are matched on a scan of the key columns alone and the rows fetched by
    rowid, as a semi join on the key would read every column of every held row first (the
    staged e-mail events' delta select on a campaign day at 1,000,000 customers: 8.8-10.7 s
    against 3.5-4.0 s, the same rows). -#}
{% macro duckdb__held_rows_of_keys(relation, key_columns) -%}
    rowid in (
        select rowid from {{ this }}
        where ({{ key_columns | join(', ') }}) in (select {{ key_columns | join(', ') }} from {{ relation }})
    )
{%- endmacro %}


{#- Identified facts (int_events_identified, int_email_events_identified): on a delta build, the
    staged rows attributed whatever identity says, as a condition on `alias`: loads newer than
    the table's newest, and times at or after its latest (the cutoff may have kept them out). -#}
{% macro fact_fresh_rows(build, alias) -%}
    {%- set time_column, latest = (build['times'].items() | list)[0] -%}
    ({{ alias }}._load_id > {{ build['load_id'] }}
        or {{ alias }}.{{ time_column }} >= cast('{{ latest }}' as timestamp))
{%- endmacro %}


{#- The older loads whose staged rows the table does not all hold (an erasure removed an event
    it attributed through a shared device; staging keeps it): counted per load, which needs no
    join of every staged row to every held one. Held rows with a fresh staged version are left
    out of the count (the build replaces them), so each load's two counts cover the same keys
    and differ exactly when staging has a row the table lacks. -#}
{% macro fact_loads_to_attribute(build, staged, key) -%}
    select staged.load_id
    from (
        select rows._load_id as load_id, count(*) as row_count
        from {{ staged }} as rows
        where not {{ fact_fresh_rows(build, 'rows') }}
        group by rows._load_id
    ) as staged
    left join (
        select _load_id as load_id, count(*) as row_count
        from {{ this }}
        where {{ key }} not in (
            select rows.{{ key }} from {{ staged }} as rows where {{ fact_fresh_rows(build, 'rows') }}
        )
        group by _load_id
    ) as held
        on held.load_id = staged.load_id
    where held.row_count is distinct from staged.row_count
{%- endmacro %}


{#- Change capture between incremental models: a model whose rows are replaced per key stamps
    every row it writes with its build's start (`_built_at`), so a model downstream reads only
    the rows written since the newest stamp it consumed (the zone maps of an appended table skip
    the rest), rather than the whole table. A build that failed leaves its stamp unconsumed:
    the next one takes its rows too. -#}
{% macro build_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}


{#- The newest upstream stamp the table holds in `column`, as a SQL literal; none when the build
    is not incremental, or the table has no such column (kept from before it had one) or no rows:
    then every upstream row is read. Rows read from upstream rows without a stamp (kept from
    before the stamps) hold none: when no row holds one, the oldest timestamp stands for them. -#}
{% macro consumed_build_timestamp(column) -%}
    {%- if not execute or this is none or not is_incremental() -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- if column not in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
        {{- return(none) -}}
    {%- endif -%}
    {%- set held, latest = run_query('select count(*), max(' ~ column ~ ') from ' ~ this).rows[0] -%}
    {%- if held == 0 -%}
        {{- return(none) -}}
    {%- endif -%}
    {{- return("cast('" ~ (latest if latest is not none else '0001-01-01 00:00:00') ~ "' as timestamp)") -}}
{%- endmacro %}


{#- Identified facts: what a delta build's rows held in the table before it (their customer
    and day: `column` of the held row; null for a row the table did not hold, and on a full
    build), so that a model summarising them per customer and day refreshes the day an event
    left as well as the one it joined. -#}
{% macro previously_held(build, column, type) -%}
    {%- if build['mode'] == 'delta' -%}
        held_rows.{{ column }}
    {%- else -%}
        cast(null as {{ type }})
    {%- endif -%}
{%- endmacro %}

{#- The held rows of the keys a build writes (`rows`, a CTE): filtered first, as a left join
    would otherwise hash every held row (3.5 s of 6.9 at 300,000 customers). -#}
{% macro join_previously_held(build, rows, alias, key) -%}
    {%- if build['mode'] == 'delta' %}
    left join (
        select {{ key }}, customer_id, occurred_date
        from {{ this }}
        where {{ key }} in (select {{ key }} from {{ rows }})
    ) as held_rows
        on held_rows.{{ key }} = {{ alias }}.{{ key }}
    {%- endif -%}
{%- endmacro %}


{#- A model that summarises an identified fact per customer and day (int_customer_web_days,
    int_customer_email_days) and keeps the newest stamp it read in `consumed_column`: how this
    build reads the fact. {'mode': 'changes', 'after': literal} reads again only the customer
    days of rows stamped since (on either side of a change of customer or day), with the first
    and last of those days as date literals; {'mode': 'full'} reads every row: a first or
    full-refresh build, or after the fact was rebuilt (no row of it is as old as the stamp
    consumed: the as-of date moved back, and rows may have gone). with_days=false leaves the
    days out (the pre-hook needs only the mode). -#}
{% macro stamped_fact_read(fact, consumed_column, with_days=true) -%}
    {%- set consumed = consumed_build_timestamp(consumed_column) -%}
    {%- if consumed is none -%}
        {{- return({'mode': 'full'}) -}}
    {%- endif -%}
    {%- set kept = run_query('select count(*) from (select 1 from ' ~ fact ~ ' where _built_at is null or _built_at <= '
                             ~ consumed ~ ' limit 1)').rows[0][0] -%}
    {%- if kept == 0 -%}
        {{- return({'mode': 'full'}) -}}
    {%- endif -%}
    {%- set read = {'mode': 'changes', 'after': consumed} -%}
    {%- if not with_days -%}
        {{- return(read) -}}
    {%- endif -%}
    {%- set first_day, last_day = run_query('select min(occurred_date), max(occurred_date) from ('
                                            ~ days_of_stamped_rows(fact, read) ~ ') as changed_days').rows[0] -%}
    {%- do read.update({'first_day': date_literal(first_day), 'last_day': date_literal(last_day)}) -%}
    {{- return(read) -}}
{%- endmacro %}

{#- A date from run_query as a SQL literal (null stays null). -#}
{% macro date_literal(value) -%}
    {{- return("cast(null as date)" if value is none else "cast('" ~ value ~ "' as date)") -}}
{%- endmacro %}


{#- pre_hook: a full read of the fact replaces the whole summary (customers gone from the fact
    leave it). -#}
{% macro empty_summary_when_reading_in_full(fact, consumed_column) -%}
    {%- if execute and this is not none and is_incremental()
            and stamped_fact_read(fact, consumed_column, with_days=false)['mode'] == 'full' -%}
        delete from {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#- The customer days a summary reads again: those of the fact's rows stamped after the stamp
    consumed, and those such rows left. -#}
{% macro days_of_stamped_rows(fact, read) -%}
    select customer_id, occurred_date
    from {{ fact }}
    where _built_at > {{ read['after'] }}
        and customer_id is not null
    union
    select _previous_customer_id, _previous_occurred_date
    from {{ fact }}
    where _built_at > {{ read['after'] }}
        and _previous_customer_id is not null
{%- endmacro %}


{#- `from ... where ...`: the fact's rows of identified customers, on a changes read only those of
    the changed days (a CTE named by `changed_days`). The range of the days is given as literals:
    as scalar subqueries it is checked row by row and skips nothing (1.5 s against 0.6 s when a
    re-attributed event makes it span the year, 300,000 customers). -#}
{% macro identified_rows_of_changed_days(fact, alias, read, changed_days) -%}
    {{ return(adapter.dispatch('identified_rows_of_changed_days', 'cdp_warehouse')(fact, alias, read, changed_days)) }}
{%- endmacro %}

{#- The join alone probes every row; the filters on the changed customers and the days' range
    let the scan skip most of them. -#}
{% macro default__identified_rows_of_changed_days(fact, alias, read, changed_days) -%}
    from {{ fact }} as {{ alias }}
    {%- if read['mode'] == 'changes' %}
    inner join {{ changed_days }}
        on {{ changed_days }}.customer_id = {{ alias }}.customer_id
        and {{ changed_days }}.occurred_date = {{ alias }}.occurred_date
    {%- endif %}
    where {{ alias }}.customer_id is not null
    {%- if read['mode'] == 'changes' %}
        and {{ alias }}.customer_id in (select customer_id from {{ changed_days }})
        and {{ alias }}.occurred_date between {{ read['first_day'] }} and {{ read['last_day'] }}
    {%- endif %}
{%- endmacro %}

{#- DuckDB: the rows of the changed days are found on a scan of the customer and day alone and
    then read by rowid. When a day's events re-attributed by identity make the range span the
    year and the changed customers are too many for the scan to filter on, the join read every
    column of almost every row (int_customer_email_days at 1,000,000 customers: 8.4-9.2 s against
    1.4-1.6 s, the same rows; int_customer_web_days, 27,520 days: 0.6-0.9 s against 0.35 s). -#}
{% macro duckdb__identified_rows_of_changed_days(fact, alias, read, changed_days) -%}
    from {{ fact }} as {{ alias }}
    where {{ alias }}.customer_id is not null
    {%- if read['mode'] == 'changes' %}
        and {{ alias }}.rowid in (
            select changed_rows.rowid
            from {{ fact }} as changed_rows
            inner join {{ changed_days }}
                on {{ changed_days }}.customer_id = changed_rows.customer_id
                and {{ changed_days }}.occurred_date = changed_rows.occurred_date
            where changed_rows.customer_id in (select customer_id from {{ changed_days }})
                and changed_rows.occurred_date between {{ read['first_day'] }} and {{ read['last_day'] }}
        )
    {%- endif %}
{%- endmacro %}


{#- A changed customer day with no events left (they moved to another customer or day; an
    erased customer's days are deleted by the erasure step itself) still needs its old row deleted: delete+insert deletes by the keys it inserts, so
    such a day is inserted as a placeholder (customer and day, the other columns null:
    `union all by name`), which the post-hook below then deletes by `count_column`, a count
    that is never null in a real row. -#}
{% macro summary_placeholders(changed_days, summary) -%}
    select changed_days.customer_id, changed_days.occurred_date
    from {{ changed_days }} as changed_days
    where not exists (
        select 1 from {{ summary }} as summary
        where summary.customer_id = changed_days.customer_id
            and summary.occurred_date = changed_days.occurred_date
    )
{%- endmacro %}

{% macro delete_summary_placeholders(count_column) -%}
    {%- if execute and this is not none and is_incremental() -%}
        delete from {{ this }} where {{ count_column }} is null
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
