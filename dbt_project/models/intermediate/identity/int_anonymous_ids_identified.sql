with

events as (
    select * from {{ ref('stg_landing__events') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

-- each device and logged-in record seen together, with the first and last time: the events
-- are reduced here, before the customers are joined and ranked (ranking the 14 million
-- identified events themselves took 11.6-13.5 s at 1,000,000 customers, this 2.9-3.0 s)
device_records as (
    select
        anonymous_id,
        source_system,
        source_customer_id,
        min(occurred_at) as first_identified_at,
        max(occurred_at) as last_identified_at
    from events
    where anonymous_id is not null
        and source_system is not null
        and source_customer_id is not null
    group by anonymous_id, source_system, source_customer_id
),

device_customers as (
    select
        device_records.anonymous_id,
        customer_records.customer_id,
        min(device_records.first_identified_at) as first_identified_at,
        max(device_records.last_identified_at) as last_identified_at
    from device_records
    inner join customer_records
        on customer_records.source_system = device_records.source_system
        and customer_records.source_customer_id = device_records.source_customer_id
    group by device_records.anonymous_id, customer_records.customer_id
),

-- a shared device belongs to the customer who used it last
ranked as (
    select
        anonymous_id,
        customer_id,
        row_number() over (
            partition by anonymous_id
            order by last_identified_at desc, customer_id
        ) as recency_rank,
        count(*) over (partition by anonymous_id) as customers_on_device,
        min(first_identified_at) over (partition by anonymous_id) as device_first_identified_at,
        max(last_identified_at) over (partition by anonymous_id) as device_last_identified_at
    from device_customers
),

final as (
    select
        anonymous_id,
        customer_id,
        customers_on_device,
        device_first_identified_at as first_identified_at,
        device_last_identified_at as last_identified_at
    from ranked
    where recency_rank = 1
)

select * from final
