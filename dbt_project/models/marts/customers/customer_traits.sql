with

customers as (
    select * from {{ ref('dim_customers') }}
),

event_traits as (
    select * from {{ ref('int_customer_events_aggregated') }}
),

order_traits as (
    select * from {{ ref('int_customer_orders_aggregated') }}
),

cart_traits as (
    select * from {{ ref('int_customer_carts_evaluated') }}
),

email_traits as (
    select * from {{ ref('int_customer_emails_aggregated') }}
),

preferences as (
    select * from {{ ref('int_customer_preferences_ranked') }}
),

-- a customer is known from the earliest of its first record, event and order
first_activity as (
    select
        customer_id,
        first_seen_at as first_active_at
    from customers
    union all
    select
        customer_id,
        first_event_at as first_active_at
    from event_traits
    union all
    select
        customer_id,
        first_ordered_at as first_active_at
    from order_traits
),

tenure as (
    select
        customer_id,
        cast(min(first_active_at) as date) as first_active_date
    from first_activity
    group by customer_id
),

-- every customer, with explicit zeros (counts, amounts) or nulls (times, rates,
-- preferences) where nothing happened; columns are grouped by theme
final as (
    select
        customers.customer_id,
        {{ as_of_date() }} as as_of_date,
        coalesce(event_traits.product_views_24h, 0) as product_views_24h,
        coalesce(event_traits.product_views_7d, 0) as product_views_7d,
        coalesce(event_traits.product_views_30d, 0) as product_views_30d,
        coalesce(event_traits.sessions_7d, 0) as sessions_7d,
        coalesce(event_traits.sessions_30d, 0) as sessions_30d,
        coalesce(event_traits.add_to_carts_7d, 0) as add_to_carts_7d,
        coalesce(event_traits.add_to_carts_30d, 0) as add_to_carts_30d,
        coalesce(order_traits.purchases_30d, 0) as purchases_30d,
        coalesce(order_traits.purchases_90d, 0) as purchases_90d,
        coalesce(order_traits.purchases_365d, 0) as purchases_365d,
        coalesce(order_traits.spend_30d, 0) as spend_30d,
        coalesce(order_traits.spend_90d, 0) as spend_90d,
        coalesce(order_traits.spend_365d, 0) as spend_365d,
        cart_traits.cart_abandoned_at,
        coalesce(cart_traits.is_cart_abandoner_24h, false) as is_cart_abandoner_24h,
        coalesce(cart_traits.open_cart_value, 0) as open_cart_value,
        event_traits.last_visit_at,
        cast(
            floor({{ dbt.datediff('event_traits.last_visit_at', as_of_cutoff_utc(), 'second') }} / 3600.0)
            as {{ dbt.type_int() }}
        ) as hours_since_last_visit,
        order_traits.first_order_date,
        order_traits.last_order_date,
        {{ dbt.datediff('order_traits.last_order_date', as_of_date(), 'day') }} as days_since_last_order,
        coalesce(order_traits.order_count, 0) as order_count,
        coalesce(order_traits.total_spend, 0) as total_spend,
        order_traits.average_order_value,
        order_traits.return_rate,
        coalesce(email_traits.email_sends_90d, 0) as email_sends_90d,
        coalesce(email_traits.email_deliveries_90d, 0) as email_deliveries_90d,
        coalesce(email_traits.email_opens_90d, 0) as email_opens_90d,
        coalesce(email_traits.email_clicks_90d, 0) as email_clicks_90d,
        email_traits.email_open_rate_90d,
        email_traits.email_click_rate_90d,
        coalesce(email_traits.is_unsubscribed, false) as is_unsubscribed,
        preferences.preferred_category,
        preferences.preferred_channel,
        preferences.preferred_device,
        preferences.top_viewed_product_id,
        coalesce(preferences.top_viewed_product_views_7d, 0) as top_viewed_product_views_7d,
        preferences.top_viewed_product_category,
        {{ dbt.datediff('tenure.first_active_date', as_of_date(), 'day') }} as tenure_days
    from customers
    left join event_traits
        on event_traits.customer_id = customers.customer_id
    left join order_traits
        on order_traits.customer_id = customers.customer_id
    left join cart_traits
        on cart_traits.customer_id = customers.customer_id
    left join email_traits
        on email_traits.customer_id = customers.customer_id
    left join preferences
        on preferences.customer_id = customers.customer_id
    left join tenure
        on tenure.customer_id = customers.customer_id
)

select * from final
