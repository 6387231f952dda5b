{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='email_event_id',
    on_schema_change='append_new_columns',
    pre_hook="{{ empty_fact_when_rebuilding(['occurred_at']) }}",
) }}

-- Incremental (docs/incremental.md): a daily build attributes the events of new (or changed)
-- loads and re-attributes only the held events whose address now belongs to another customer
-- (or to none, or to several). Its rows carry `_built_at`, `_previous_customer_id` and
-- `_previous_occurred_date` as int_events_identified's do.
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
    select email, customer_id
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

-- the older loads whose staged events the table does not all hold
loads_to_attribute as (
    {{ fact_loads_to_attribute(build, ref('stg_landing__email_events'), 'email_event_id') }}
),
{% endif %}

-- the fresh events and those of the loads above, then the held events of reassigned addresses (int_events_identified
-- says why in branches)
events_to_attribute as (
    select email_events.*
    from email_events
    {% if build['mode'] == 'delta' %}
    where {{ fact_fresh_rows(build, 'email_events') }}

    union all

    select email_events.*
    from {{ ref('stg_landing__email_events') }} as email_events
    where not {{ fact_fresh_rows(build, 'email_events') }}
        and email_events._load_id in (select load_id from loads_to_attribute)

    union all

    select email_events.*
    from {{ ref('stg_landing__email_events') }} as email_events
    inner join addresses_reassigned
        on addresses_reassigned.email = email_events.email
    where not {{ fact_fresh_rows(build, 'email_events') }}
        and email_events._load_id not in (select load_id from loads_to_attribute)
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
        email_events._load_id,
        {{ build_timestamp() }} as _built_at,
        {{ previously_held(build, 'customer_id', dbt.type_string()) }} as _previous_customer_id,
        {{ previously_held(build, 'occurred_date', 'date') }} as _previous_occurred_date
    from events_to_attribute as email_events
    left join email_customers
        on email_customers.identifier_value = {{ email_match_key('email_events.email') }}
    {{- join_previously_held(build, 'events_to_attribute', 'email_events', 'email_event_id') }}
)

select * from final
