{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='email_event_id',
    on_schema_change='fail',
    pre_hook="{{ empty_fact_when_rebuilding(['occurred_at']) }}",
) }}

-- Incremental (docs/incremental.md): a daily build attributes the new events and re-attributes
-- only the held events whose address now belongs to another customer (or to none, or to several).
{% set build = fact_build_mode(['occurred_at']) %}

with

email_events as (
    select * from {{ ref('stg_landing__email_events') }}
),

-- only addresses that belong to exactly one customer attribute engagement
email_customers as (
    select * from {{ ref('int_identifiers_resolved') }}
    where identifier_type = 'email'
        and customers_with_identifier = 1
),

{% if build['mode'] == 'delta' %}
held as (
    select email_event_id, email, customer_id
    from {{ this }}
),

-- each address as its held events were attributed, against its customer now
addresses_reassigned as (
    select distinct held_addresses.email, true as is_reassigned
    from (select distinct email, customer_id from held) as held_addresses
    left join email_customers
        on email_customers.identifier_value = {{ email_match_key('held_addresses.email') }}
    where held_addresses.customer_id is distinct from email_customers.customer_id
),
{% endif %}

-- one pass over the events, left joins to small sets (int_events_identified says why)
events_to_attribute as (
    select email_events.*
    from email_events
    {% if build['mode'] == 'delta' %}
    left join (select email_event_id, true as is_held from held) as held_events
        on held_events.email_event_id = email_events.email_event_id
    left join addresses_reassigned
        on addresses_reassigned.email = email_events.email
    -- new events, and events the cutoff or an erasure left out of the table before
    where held_events.is_held is null
        -- a new version of a held event
        or email_events._load_id > {{ build['load_id'] }}
        or addresses_reassigned.is_reassigned
    {% endif %}
),

final as (
    select
        email_events.email_event_id,
        email_customers.customer_id,
        email_events.campaign_id,
        email_events.source_system,
        email_events.email,
        email_events.event_type,
        email_events.occurred_date,
        email_events.occurred_at,
        email_events._load_id
    from events_to_attribute as email_events
    left join email_customers
        on email_customers.identifier_value = {{ email_match_key('email_events.email') }}
)

select * from final
