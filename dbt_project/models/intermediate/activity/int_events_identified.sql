{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='append_new_columns',
    pre_hook="{{ empty_fact_when_rebuilding(['occurred_at']) }}",
) }}

-- Incremental (docs/incremental.md): a daily build attributes the events of new (or changed)
-- loads and re-attributes only the held events whose record or device now belongs to another
-- customer. The rows a build writes carry its stamp (`_built_at`) and the customer and day the
-- table held them under before (`_previous_customer_id`, `_previous_occurred_date`): the
-- per-customer day summaries read only those.
{% set build = fact_build_mode(['occurred_at']) %}

with

events as (
    select * from {{ ref('stg_landing__events') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

anonymous_ids as (
    select * from {{ ref('int_anonymous_ids_identified') }}
),

{% if build['mode'] == 'delta' %}
-- each record the held events name, as they were attributed by it (its customer for a login,
-- none otherwise), against its customer now: a record that now resolves for events held
-- without it shows up here. A record no held event names needs nothing: its staged events
-- are fresh or in a load counted below. (Every resolved record used to be joined in: at
-- 1,000,000 customers 1.8 million records without a login came out "reassigned" every run,
-- and their branch read all 48 million staged events, all columns, for no row.) The held
-- events are read in each of the two CTEs below, not through one CTE, which DuckDB would
-- materialise whole.
records_reassigned as (
    select distinct
        held_records.source_system,
        held_records.source_customer_id,
        true as is_reassigned
    from (
        select distinct
            source_system,
            source_customer_id,
            case when identified_by = 'login' then customer_id end as customer_id
        from {{ this }}
        where source_system is not null
            and source_customer_id is not null
    ) as held_records
    left join customer_records
        on customer_records.source_system = held_records.source_system
        and customer_records.source_customer_id = held_records.source_customer_id
    where held_records.customer_id is distinct from customer_records.customer_id
),

-- each device as its events without a login were attributed (or not), against its customer now
devices_reassigned as (
    select distinct held_devices.anonymous_id, true as is_reassigned
    from (
        select distinct
            anonymous_id,
            case when identified_by = 'device' then customer_id end as customer_id
        from {{ this }}
        where identified_by is distinct from 'login'
            and anonymous_id is not null
    ) as held_devices
    left join anonymous_ids
        on anonymous_ids.anonymous_id = held_devices.anonymous_id
    where held_devices.customer_id is distinct from anonymous_ids.customer_id
),

-- the older loads whose staged events the table does not all hold
loads_to_attribute as (
    {{ fact_loads_to_attribute(build, ref('stg_landing__events'), 'event_id') }}
),
{% endif %}

-- the fresh events and those of the loads above, then the held events of reassigned records
-- and devices: one branch each, so that each is a scan that skips what it does not need. The
-- staged events are named in each branch, not through the CTE, which DuckDB would otherwise
-- materialise whole.
events_to_attribute as (
    select events.*
    from events
    {% if build['mode'] == 'delta' %}
    where {{ fact_fresh_rows(build, 'events') }}

    union all

    select events.*
    from {{ ref('stg_landing__events') }} as events
    where not {{ fact_fresh_rows(build, 'events') }}
        and events._load_id in (select load_id from loads_to_attribute)

    union all

    select events.*
    from {{ ref('stg_landing__events') }} as events
    inner join records_reassigned
        on records_reassigned.source_system = events.source_system
        and records_reassigned.source_customer_id = events.source_customer_id
    where not {{ fact_fresh_rows(build, 'events') }}
        and events._load_id not in (select load_id from loads_to_attribute)

    union all

    select events.*
    from {{ ref('stg_landing__events') }} as events
    inner join devices_reassigned
        on devices_reassigned.anonymous_id = events.anonymous_id
    left join records_reassigned
        on records_reassigned.source_system = events.source_system
        and records_reassigned.source_customer_id = events.source_customer_id
    where not {{ fact_fresh_rows(build, 'events') }}
        and events._load_id not in (select load_id from loads_to_attribute)
        and records_reassigned.is_reassigned is null
    {% endif %}
),

-- a logged-in event names its customer; any other event of a device that has
-- logged in (before or after) belongs to the device's customer
final as (
    select
        events.event_id,
        coalesce(customer_records.customer_id, anonymous_ids.customer_id) as customer_id,
        events.anonymous_id,
        events.source_system,
        events.source_customer_id,
        events.session_id,
        events.product_id,
        events.event_type,
        case
            when customer_records.customer_id is not null then 'login'
            when anonymous_ids.customer_id is not null then 'device'
        end as identified_by,
        events.page_url,
        events.referrer,
        events.device_type,
        events.search_query,
        events.product_category,
        events.login_method,
        events.properties,
        events.quantity,
        events.occurred_date,
        events.occurred_at,
        events._load_id,
        {{ build_timestamp() }} as _built_at,
        {{ previously_held(build, 'customer_id', dbt.type_string()) }} as _previous_customer_id,
        {{ previously_held(build, 'occurred_date', 'date') }} as _previous_occurred_date
    from events_to_attribute as events
    left join customer_records
        on customer_records.source_system = events.source_system
        and customer_records.source_customer_id = events.source_customer_id
    left join anonymous_ids
        on anonymous_ids.anonymous_id = events.anonymous_id
    {{- join_previously_held(build, 'events_to_attribute', 'events', 'event_id') }}
)

select * from final
