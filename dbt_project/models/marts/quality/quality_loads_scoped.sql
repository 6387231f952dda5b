{{ config(materialized='ephemeral') }}

-- The loads that exist as of the run, with the source (or source system) they count
-- for. A load exists from the date of its newest row on, so a run as of an earlier
-- date (a backfill) does not count files sent later; a load without timed rows (a
-- catalogue, a file rejected whole) counts at every date. A load of a source scored
-- per source system counts for the system most of its rows come from (landing files
-- come one per system); a file with no row loaded counts for `<source>:unknown`.
{%- set sources = var('data_quality')['sources'] %}

with

load_history as (
    select * from {{ source('audit', 'load_history') }}
),

raw_loads as (
    select * from {{ ref('quality_raw_loads') }}
),

load_times as (
    select
        landing_source,
        load_id,
        max(newest_row_at) as newest_row_at
    from raw_loads
    group by landing_source, load_id
),

load_systems_ranked as (
    select
        landing_source,
        load_id,
        source_system,
        row_number() over (
            partition by landing_source, load_id order by row_count desc, source_system nulls last
        ) as system_rank
    from raw_loads
    where source_system is not null
),

loads as (
    select
        load_history.load_id,
        load_history.source as landing_source,
        case
            {% for source_name, settings in sources.items() if settings.get('source_systems') -%}
            when load_history.source = '{{ source_name }}'
                then '{{ source_name }}:' || coalesce(load_systems_ranked.source_system, 'unknown')
            {% endfor -%}
            else load_history.source
        end as source,
        load_history.status,
        coalesce(load_history.rows_in, 0) as rows_in,
        coalesce(load_history.rows_loaded, 0) as rows_loaded,
        coalesce(load_history.rows_rejected, 0) as rows_rejected,
        load_times.newest_row_at
    from load_history
    left join load_times
        on load_times.landing_source = load_history.source
        and load_times.load_id = load_history.load_id
    left join load_systems_ranked
        on load_systems_ranked.landing_source = load_history.source
        and load_systems_ranked.load_id = load_history.load_id
        and load_systems_ranked.system_rank = 1
    where load_history.source in ({% for source_name in sources %}'{{ source_name }}'{% if not loop.last %}, {% endif %}{% endfor %})
),

final as (
    select
        load_id,
        landing_source,
        source,
        status,
        rows_in,
        rows_loaded,
        rows_rejected
    from loads
    where newest_row_at is null
        or newest_row_at < {{ as_of_cutoff_utc() }}
)

select * from final
