{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='fail',
    pre_hook="{{ empty_fact_when_rebuilding(['occurred_at']) }}",
) }}

-- Incremental (docs/incremental.md): a daily build attributes the new events and re-attributes
-- only the held events whose record or device now belongs to another customer.
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
held as (
    select event_id, source_system, source_customer_id, anonymous_id, customer_id, identified_by
    from {{ this }}
),

-- each record as the held login events were attributed, against its customer now; a record
-- whose events were not attributed by login before shows up as new here
records_reassigned as (
    select distinct
        coalesce(held_records.source_system, customer_records.source_system) as source_system,
        coalesce(held_records.source_customer_id, customer_records.source_customer_id) as source_customer_id,
        true as is_reassigned
    from (
        select distinct source_system, source_customer_id, customer_id
        from held
        where identified_by = 'login'
    ) as held_records
    full join customer_records
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
        from held
        where identified_by is distinct from 'login'
            and anonymous_id is not null
    ) as held_devices
    left join anonymous_ids
        on anonymous_ids.anonymous_id = held_devices.anonymous_id
    where held_devices.customer_id is distinct from anonymous_ids.customer_id
),
{% endif %}

-- one pass over the events (left joins to small sets, not OR-ed subqueries: DuckDB plans those
-- as a scan each and took longer than a full build)
events_to_attribute as (
    select events.*
    from events
    {% if build['mode'] == 'delta' %}
    left join (select event_id, true as is_held from held) as held_events
        on held_events.event_id = events.event_id
    left join records_reassigned
        on records_reassigned.source_system = events.source_system
        and records_reassigned.source_customer_id = events.source_customer_id
    left join devices_reassigned
        on devices_reassigned.anonymous_id = events.anonymous_id
    -- new events, and events the cutoff or an erasure left out of the table before
    where held_events.is_held is null
        -- a new version of a held event
        or events._load_id > {{ build['load_id'] }}
        or records_reassigned.is_reassigned
        or devices_reassigned.is_reassigned
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
        events._load_id
    from events_to_attribute as events
    left join customer_records
        on customer_records.source_system = events.source_system
        and customer_records.source_customer_id = events.source_customer_id
    left join anonymous_ids
        on anonymous_ids.anonymous_id = events.anonymous_id
)

select * from final
