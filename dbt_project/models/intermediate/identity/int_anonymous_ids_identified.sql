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
ranked as (
    select
        anonymous_id,
        customer_id,
        row_number() over (
            partition by anonymous_id
            order by occurred_at desc, customer_id
        ) as recency_rank
    from identified_events
),

device_summary as (
    select
        anonymous_id,
        count(distinct customer_id) as customers_on_device,
        min(occurred_at) as first_identified_at,
        max(occurred_at) as last_identified_at
    from identified_events
    group by anonymous_id
),

final as (
    select
        device_summary.anonymous_id,
        ranked.customer_id,
        device_summary.customers_on_device,
        device_summary.first_identified_at,
        device_summary.last_identified_at
    from device_summary
    inner join ranked
        on ranked.anonymous_id = device_summary.anonymous_id
        and ranked.recency_rank = 1
)

select * from final
