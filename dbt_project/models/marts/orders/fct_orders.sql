with

orders as (
    select * from {{ ref('int_orders_identified') }}
),

order_items as (
    select * from {{ ref('stg_landing__order_items') }}
),

order_item_totals as (
    select
        order_id,
        count(*) as line_count,
        sum(quantity) as item_count,
        sum(line_amount) as items_amount
    from order_items
    group by order_id
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        orders.source_system,
        orders.source_order_id,
        orders.source_customer_id,
        orders.order_status,
        orders.sales_channel,
        orders.currency_code,
        orders.total_amount,
        orders.total_amount_reporting,
        coalesce(order_item_totals.items_amount, 0) as items_amount,
        coalesce(order_item_totals.line_count, 0) as line_count,
        coalesce(order_item_totals.item_count, 0) as item_count,
        orders.order_status = 'completed' as is_completed,
        orders.ordered_date,
        orders.ordered_at
    from orders
    left join order_item_totals
        on order_item_totals.order_id = orders.order_id
)

select * from final
