with

events as (
    select * from {{ ref('stg_landing__events') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

-- events that name both the device and the logged-in customer record
identified_events as (
    select
        events.anonymous_id,
        customer_records.customer_id,
        events.occurred_at
    from events
    inner join customer_records
        on customer_records.source_system = events.source_system
        and customer_records.source_customer_id = events.source_customer_id
    where events.anonymous_id is not null
),

-- a shared device belongs to the customer who used it last
final as (
    select
        anonymous_id,
        {{ arg_max_non_null('customer_id', 'occurred_at') }} as customer_id,
        count(distinct customer_id) as customers_on_device,
        min(occurred_at) as first_identified_at,
        max(occurred_at) as last_identified_at
    from identified_events
    group by anonymous_id
)

select * from final
