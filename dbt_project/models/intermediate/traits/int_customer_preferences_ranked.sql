{%- set lookback_days = var('preference_lookback_days') | int -%}

-- every event signal lies in the lookback window or the last 7 days: the scan reads only those,
-- not the history
with

events as (
    select * from {{ ref('int_events_identified') }}
    where customer_id is not null
        and {{ is_in_window('occurred_at', [lookback_days, 7] | max) }}
),

completed_orders as (
    select * from {{ ref('int_orders_identified') }}
    where customer_id is not null
        and order_status = 'completed'
        and ordered_at < {{ as_of_cutoff_utc() }}
),

order_items as (
    select * from {{ ref('stg_landing__order_items') }}
),

products as (
    select * from {{ ref('stg_landing__products') }}
),

-- the catalogue's category; the tracker's for a product missing from the catalogue
product_views as (
    select
        events.customer_id,
        events.product_id,
        coalesce(products.product_category, events.product_category) as product_category,
        events.occurred_at
    from events
    left join products
        on products.product_id = events.product_id
    where events.event_type = 'product_view'
),

purchased_products as (
    select
        completed_orders.customer_id,
        order_items.product_id,
        products.product_category,
        completed_orders.ordered_at as occurred_at
    from completed_orders
    inner join order_items
        on order_items.order_id = completed_orders.order_id
    left join products
        on products.product_id = order_items.product_id
),

-- interest in a category: each product view and each purchased order line counts once
category_signals as (
    select
        customer_id,
        product_category,
        occurred_at
    from product_views
    where {{ is_in_window('occurred_at', lookback_days) }}
    union all
    select
        customer_id,
        product_category,
        occurred_at
    from purchased_products
    where {{ is_in_window('occurred_at', lookback_days) }}
),

recent_events as (
    select * from events
    where {{ is_in_window('occurred_at', lookback_days) }}
),

recent_product_views as (
    select * from product_views
    where {{ is_in_window('occurred_at', 7) }}
),

categories_ranked as (
    {{ rank_by_frequency('category_signals', 'product_category', 'occurred_at') }}
),

channels_ranked as (
    {{ rank_by_frequency('completed_orders', 'sales_channel', 'ordered_at') }}
),

devices_ranked as (
    {{ rank_by_frequency('recent_events', 'device_type', 'occurred_at') }}
),

products_ranked as (
    {{ rank_by_frequency('recent_product_views', 'product_id', 'occurred_at', carry_columns=['product_category']) }}
),

preferred_categories as (
    select * from categories_ranked
    where frequency_rank = 1
),

preferred_channels as (
    select * from channels_ranked
    where frequency_rank = 1
),

preferred_devices as (
    select * from devices_ranked
    where frequency_rank = 1
),

top_viewed_products as (
    select * from products_ranked
    where frequency_rank = 1
),

customers_with_preferences as (
    select customer_id from preferred_categories
    union
    select customer_id from preferred_channels
    union
    select customer_id from preferred_devices
    union
    select customer_id from top_viewed_products
),

final as (
    select
        customers_with_preferences.customer_id,
        preferred_categories.product_category as preferred_category,
        preferred_channels.sales_channel as preferred_channel,
        preferred_devices.device_type as preferred_device,
        top_viewed_products.product_id as top_viewed_product_id,
        top_viewed_products.product_category as top_viewed_product_category,
        top_viewed_products.occurrences as top_viewed_product_views_7d
    from customers_with_preferences
    left join preferred_categories
        on preferred_categories.customer_id = customers_with_preferences.customer_id
    left join preferred_channels
        on preferred_channels.customer_id = customers_with_preferences.customer_id
    left join preferred_devices
        on preferred_devices.customer_id = customers_with_preferences.customer_id
    left join top_viewed_products
        on top_viewed_products.customer_id = customers_with_preferences.customer_id
)

select * from final
