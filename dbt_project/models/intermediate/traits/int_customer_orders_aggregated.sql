with

orders as (
    select * from {{ ref('int_orders_identified') }}
    where customer_id is not null
        and ordered_at < {{ as_of_cutoff_utc() }}
),

flagged as (
    select
        *,
        order_status = 'completed' as is_completed
    from orders
),

-- purchases and spend are completed orders; amounts in the reporting currency (an
-- order whose currency has no rate adds to the counts, not to the sums)
final as (
    select
        customer_id,
        count(case when is_completed and {{ is_in_window('ordered_at', 30) }} then order_id end) as purchases_30d,
        count(case when is_completed and {{ is_in_window('ordered_at', 90) }} then order_id end) as purchases_90d,
        count(case when is_completed and {{ is_in_window('ordered_at', 365) }} then order_id end) as purchases_365d,
        coalesce(sum(case when is_completed and {{ is_in_window('ordered_at', 30) }} then total_amount_reporting end), 0) as spend_30d,
        coalesce(sum(case when is_completed and {{ is_in_window('ordered_at', 90) }} then total_amount_reporting end), 0) as spend_90d,
        coalesce(sum(case when is_completed and {{ is_in_window('ordered_at', 365) }} then total_amount_reporting end), 0) as spend_365d,
        count(case when is_completed then order_id end) as order_count,
        coalesce(sum(case when is_completed then total_amount_reporting end), 0) as total_spend,
        {{ avg_as_double('case when is_completed then total_amount_reporting end') }} as average_order_value,
        -- returned of the orders that were delivered; cancelled orders never were
        1.0 * count(case when order_status = 'returned' then order_id end)
            / nullif(count(case when order_status in ('completed', 'returned') then order_id end), 0) as return_rate,
        min(case when is_completed then ordered_date end) as first_order_date,
        max(case when is_completed then ordered_date end) as last_order_date,
        min(ordered_at) as first_ordered_at
    from flagged
    group by customer_id
)

select * from final
