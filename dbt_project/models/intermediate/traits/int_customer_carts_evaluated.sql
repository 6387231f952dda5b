{%- set abandonment_hours = var('cart_abandonment_hours') | int -%}

with

events as (
    select * from {{ ref('int_events_identified') }}
    where customer_id is not null
        and occurred_at < {{ as_of_cutoff_utc() }}
),

completed_orders as (
    select * from {{ ref('int_orders_identified') }}
    where customer_id is not null
        and order_status = 'completed'
        and ordered_at < {{ as_of_cutoff_utc() }}
),

products as (
    select * from {{ ref('stg_landing__products') }}
),

currency_rates as (
    select * from {{ ref('currency_rates') }}
),

add_to_carts as (
    select
        event_id,
        customer_id,
        product_id,
        coalesce(quantity, 1) as quantity,
        occurred_at as added_at
    from events
    where event_type = 'add_to_cart'
),

-- a store order has no purchase event and a web order may have both: either counts
purchases as (
    select
        customer_id,
        occurred_at as purchased_at
    from events
    where event_type = 'purchase'
    union all
    select
        customer_id,
        ordered_at as purchased_at
    from completed_orders
),

-- the first purchase at or after each add-to-cart (null: none yet, the item is still in the cart)
add_to_cart_outcomes as (
    select
        add_to_carts.event_id,
        add_to_carts.customer_id,
        add_to_carts.product_id,
        add_to_carts.quantity,
        add_to_carts.added_at,
        {{ dbt.dateadd('hour', abandonment_hours, 'add_to_carts.added_at') }} as abandoned_after_at,
        min(purchases.purchased_at) as next_purchased_at
    from add_to_carts
    left join purchases
        on purchases.customer_id = add_to_carts.customer_id
        and purchases.purchased_at >= add_to_carts.added_at
    group by
        add_to_carts.event_id,
        add_to_carts.customer_id,
        add_to_carts.product_id,
        add_to_carts.quantity,
        add_to_carts.added_at
),

-- abandoned: the hours to buy have fully passed by the cutoff without a purchase in
-- them; in the cart: no purchase at or after it yet
add_to_carts_classified as (
    select
        add_to_cart_outcomes.customer_id,
        add_to_cart_outcomes.added_at,
        add_to_cart_outcomes.abandoned_after_at <= {{ as_of_cutoff_utc() }}
            and (
                add_to_cart_outcomes.next_purchased_at is null
                or add_to_cart_outcomes.next_purchased_at >= add_to_cart_outcomes.abandoned_after_at
            ) as is_abandoned,
        add_to_cart_outcomes.next_purchased_at is null as is_in_cart,
        products.price * add_to_cart_outcomes.quantity * currency_rates.rate_to_reporting as value_reporting
    from add_to_cart_outcomes
    left join products
        on products.product_id = add_to_cart_outcomes.product_id
    -- list prices are in var product_price_currency
    left join currency_rates
        on currency_rates.currency_code = {{ sql_string(var('product_price_currency')) }}
),

final as (
    select
        customer_id,
        max(case when is_abandoned then added_at end) as cart_abandoned_at,
        max(case when is_in_cart and {{ is_in_window('added_at', 24, 'hour') }} then 1 else 0 end) = 1 as is_cart_abandoner_24h,
        round(coalesce(sum(case when is_in_cart then value_reporting end), 0), 2) as open_cart_value
    from add_to_carts_classified
    group by customer_id
)

select * from final
