with

orders as (
    select * from {{ ref('stg_landing__orders') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
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
        orders.ordered_date,
        orders.ordered_at
    from orders
    left join customer_records
        on customer_records.source_system = orders.source_system
        and customer_records.source_customer_id = orders.source_customer_id
)

select * from final
