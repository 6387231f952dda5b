with

orders as (
    select * from {{ ref('stg_landing__orders') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

currency_rates as (
    select * from {{ ref('currency_rates') }}
),

final as (
    select
        orders.order_id,
        customer_records.customer_id,
        orders.source_system,
        orders.source_order_id,
        orders.source_customer_id,
        orders.order_status,
        orders.sales_channel,
        orders.currency_code,
        orders.total_amount,
        -- null when the currency has no rate: left out of sums, never guessed
        round(orders.total_amount * currency_rates.rate_to_reporting, 2) as total_amount_reporting,
        orders.ordered_date,
        orders.ordered_at
    from orders
    left join customer_records
        on customer_records.source_system = orders.source_system
        and customer_records.source_customer_id = orders.source_customer_id
    left join currency_rates
        on currency_rates.currency_code = orders.currency_code
)

select * from final
