{{ config(materialized='ephemeral') }}

-- Checks on the raw rows that exist as of the run (no time of theirs after the
-- cutoff), per source or source system.
-- duplicate_keys: rows repeating the key and time columns of another row add nothing
-- (a re-sent record with a new time is a new version, not a duplicate).
-- hours_since_latest_record: timeliness, the hours from the newest row to the cutoff,
-- against max_age_hours (per source system where it sets one, else the source's).
{%- set sources = var('data_quality')['sources'] %}

with

raw_loads as (
    select * from {{ ref('quality_raw_loads') }}
),

-- the sources with rows as of the run; distinct rows are first copies (quality_raw_rows)
sources_summed as (
    select
        landing_source,
        case
            when source_system is null then landing_source
            else landing_source || ':' || source_system
        end as source,
        source_system,
        sum(rows_as_of) as rows_as_of,
        sum(first_copies_as_of) as distinct_rows,
        max(newest_row_as_of) as newest_row_at
    from raw_loads
    group by 1, 2, 3
    having sum(rows_as_of) > 0
),

duplicate_checks as (
    select
        source,
        'uniqueness' as criterion,
        'duplicate_keys' as check_name,
        cast(null as {{ dbt.type_string() }}) as attribute,
        rows_as_of as checked,
        distinct_rows as passed,
        cast(null as double) as measured_value,
        cast(null as double) as limit_value,
        cast(rows_as_of - distinct_rows as {{ dbt.type_string() }}) || ' of '
            || cast(rows_as_of as {{ dbt.type_string() }})
            || ' raw rows repeat the key and time of another row' as detail
    from sources_summed
),

-- the sources (and source systems) expected to send, each with its maximum age: a
-- configured one that sent nothing yet still gets a (failing) row
max_ages as (
    {%- set ns = namespace(separator='') %}
    {%- for source_name, settings in sources.items() %}
    {%- set systems = settings.get('source_systems') or {} %}
    {%- for system, system_settings in systems.items()
        if system_settings.get('max_age_hours', settings.get('max_age_hours')) is not none %}
    {{ ns.separator }}
    select
        '{{ source_name }}' as landing_source,
        '{{ source_name }}:{{ system }}' as source,
        {{ system_settings.get('max_age_hours', settings.get('max_age_hours')) }} as max_age_hours
    {%- set ns.separator = 'union all' %}
    {%- endfor %}
    {%- if settings.get('max_age_hours') is not none %}
    {{ ns.separator }}
    {%- if systems %}
    -- systems not listed take the source's maximum age
    select
        landing_source,
        source,
        {{ settings['max_age_hours'] }} as max_age_hours
    from sources_summed
    where landing_source = '{{ source_name }}'
        and source_system not in ('{{ systems.keys() | join("', '") }}')
    {%- else %}
    select
        '{{ source_name }}' as landing_source,
        '{{ source_name }}' as source,
        {{ settings['max_age_hours'] }} as max_age_hours
    {%- endif %}
    {%- set ns.separator = 'union all' %}
    {%- endif %}
    {%- endfor %}
    {%- if not ns.separator %}
    select
        cast(null as {{ dbt.type_string() }}) as landing_source,
        cast(null as {{ dbt.type_string() }}) as source,
        0 as max_age_hours
    where false
    {%- endif %}
),

ages as (
    select
        max_ages.source,
        cast(max_ages.max_age_hours as double) as max_age_hours,
        round(
            {{ dbt.datediff('sources_summed.newest_row_at', as_of_cutoff_utc(), 'second') }}
                / cast(3600 as double),
            1
        ) as hours_since_latest
    from max_ages
    left join sources_summed
        on sources_summed.source = max_ages.source
),

timeliness_checks as (
    select
        source,
        'timeliness' as criterion,
        'hours_since_latest_record' as check_name,
        cast(null as {{ dbt.type_string() }}) as attribute,
        1 as checked,
        case when hours_since_latest <= max_age_hours then 1 else 0 end as passed,
        cast(hours_since_latest as double) as measured_value,
        max_age_hours as limit_value,
        case
            when hours_since_latest is null then 'no row before the end of the as-of date'
            else 'newest row ' || cast(hours_since_latest as {{ dbt.type_string() }})
                || ' h before the end of the as-of date (at most '
                || cast(max_age_hours as {{ dbt.type_string() }}) || ' h)'
        end as detail
    from ages
),

checks as (
    select * from duplicate_checks
    union all
    select * from timeliness_checks
),

final as (
    select
        source,
        criterion,
        check_name,
        attribute,
        cast(checked as {{ dbt.type_bigint() }}) as checked,
        cast(passed as {{ dbt.type_bigint() }}) as passed,
        measured_value,
        limit_value,
        cast(null as double) as threshold,
        detail
    from checks
)

select * from final
