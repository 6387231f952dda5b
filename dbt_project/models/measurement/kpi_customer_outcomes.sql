-- Each customer's commerce and e-mail outcomes in the KPI window: the
-- `kpi_window_days` days up to and including the as-of date.
with

orders as (
    select
        customer_id,
        count(*) as orders,
        sum(total_amount_reporting) as revenue
    from {{ ref('fct_orders') }}
    where is_completed
        and customer_id is not null
        and {{ is_in_window('ordered_at', var('kpi_window_days')) }}
    group by customer_id
),

-- an e-mail counts once per campaign however often it was opened or clicked (unique click-through)
emails as (
    select
        customer_id,
        count(distinct case when event_type = 'delivered' then campaign_id end) as emails_delivered,
        count(distinct case when event_type = 'click' then campaign_id end) as emails_clicked
    from {{ ref('int_email_events_identified') }}
    where customer_id is not null
        and {{ is_in_window('occurred_at', var('kpi_window_days')) }}
    group by customer_id
),

final as (
    select
        coalesce(orders.customer_id, emails.customer_id) as customer_id,
        coalesce(orders.orders, 0) as orders,
        coalesce(orders.revenue, 0) as revenue,
        coalesce(emails.emails_delivered, 0) as emails_delivered,
        coalesce(emails.emails_clicked, 0) as emails_clicked
    from orders
    -- on, not using: after a full join using, Spark reads orders.orders as a field of column orders
    full outer join emails
        on emails.customer_id = orders.customer_id
)

select * from final
