{{ config(materialized='ephemeral') }}

-- What loading did to the rows of the loads that exist as of the run (audit tables).
-- quarantined_rows: the share of rows in that were loaded, with the rejection reasons
-- by the column they name (never the content: it may hold personal data).
-- <column>_valid_on_load: for contract columns with on_invalid null, the share of
-- loaded rows whose value was not set to NULL for failing a check.
{%- set sources = var('data_quality')['sources'] %}

with

loads as (
    select * from {{ ref('quality_loads_scoped') }}
),

quarantine as (
    select * from {{ source('audit', 'quarantine') }}
),

field_issues as (
    select * from {{ source('audit', 'field_issues') }}
),

-- a validation reason starts with the column it names ("email: required value is empty");
-- a row that could not be parsed at all has a reader's message instead
reasons as (
    select
        loads.source,
        case
            when {{ regexp_full_match('quarantine.reason', '[a-z_]+: .*') }}
                then {{ dbt.split_part('quarantine.reason', "':'", 1) }}
            when quarantine.reason like 'one of % is required' then 'no identifier'
            else 'unreadable row'
        end as reason_column
    from quarantine
    inner join loads
        on loads.load_id = quarantine.load_id
),

reason_counts as (
    select
        source,
        reason_column,
        count(*) as rows_rejected
    from reasons
    group by source, reason_column
),

reasons_listed as (
    select
        source,
        {{ dbt.listagg(
            "reason_column || ' ' || cast(rows_rejected as " ~ dbt.type_string() ~ ")",
            "', '",
            'order by rows_rejected desc, reason_column nulls last'
        ) }} as reasons
    from reason_counts
    group by source
),

loads_summed as (
    select
        source,
        sum(rows_in) as rows_in,
        sum(rows_loaded) as rows_loaded,
        sum(rows_rejected) as rows_rejected,
        sum(case when status = 'rejected' then 1 else 0 end) as files_rejected
    from loads
    group by source
),

quarantine_checks as (
    select
        loads_summed.source,
        'quarantine' as criterion,
        'quarantined_rows' as check_name,
        cast(null as {{ dbt.type_string() }}) as attribute,
        loads_summed.rows_in as checked,
        loads_summed.rows_in - loads_summed.rows_rejected as passed,
        cast(loads_summed.rows_rejected as {{ dbt.type_string() }}) || ' of '
            || cast(loads_summed.rows_in as {{ dbt.type_string() }}) || ' rows quarantined'
            || case
                when loads_summed.files_rejected > 0
                    then ' (' || cast(loads_summed.files_rejected as {{ dbt.type_string() }}) || ' files rejected whole)'
                else ''
            end
            || coalesce(': ' || reasons_listed.reasons, '') as detail
    from loads_summed
    left join reasons_listed
        on reasons_listed.source = loads_summed.source
),

-- one issue per row and column, however many checks the value failed
rows_with_issues as (
    select
        load_id,
        column_name,
        count(distinct record_number) as rows_nulled
    from field_issues
    group by load_id, column_name
),

nulled_on_load_checks as (
    {%- set ns = namespace(separator='') %}
    {%- for source_name, settings in sources.items() %}
    {%- for column in settings.get('nulled_on_load') or [] %}
    {{ ns.separator }}
    select
        loads.source,
        'validity' as criterion,
        '{{ column }}_valid_on_load' as check_name,
        '{{ column }}' as attribute,
        sum(loads.rows_loaded) as checked,
        sum(loads.rows_loaded) - coalesce(sum(rows_with_issues.rows_nulled), 0) as passed,
        cast(coalesce(sum(rows_with_issues.rows_nulled), 0) as {{ dbt.type_string() }}) || ' of '
            || cast(sum(loads.rows_loaded) as {{ dbt.type_string() }})
            || ' rows loaded with {{ column }} set to null (invalid value, see audit.field_issues)' as detail
    from loads
    left join rows_with_issues
        on rows_with_issues.load_id = loads.load_id
        and rows_with_issues.column_name = '{{ column }}'
    where loads.landing_source = '{{ source_name }}'
    group by loads.source
    {%- set ns.separator = 'union all' %}
    {%- endfor %}
    {%- endfor %}
    {%- if not ns.separator %}
    select * from quarantine_checks where false
    {%- endif %}
),

checks as (
    select * from quarantine_checks
    union all
    select * from nulled_on_load_checks
),

final as (
    select
        source,
        criterion,
        check_name,
        attribute,
        cast(checked as {{ dbt.type_bigint() }}) as checked,
        cast(passed as {{ dbt.type_bigint() }}) as passed,
        cast(null as double) as measured_value,
        cast(null as double) as limit_value,
        cast(null as double) as threshold,
        detail
    from checks
)

select * from final
