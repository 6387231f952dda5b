{#-
    Point-in-time customer features: one row per customer and cutoff date (see
    feature_cutoffs). A row as of a cutoff reads only activity on or before that
    date (UTC), so a model trained on an earlier cutoff never sees what happened
    after it. Activity is read rolled up per customer and day (int_customer_web_days,
    int_customer_email_days: sessions are counted, not events) before meeting the cutoffs.
    Erased customers have no rows. gender and age_band are not model features:
    they are kept for the fairness checks of the audiences built from scores.
-#}

with cutoffs as (
    select distinct cutoff_date from {{ ref('feature_cutoffs') }}
),

customers as (
    select
        customer_id,
        gender,
        birth_date,
        cast(first_seen_at as date) as first_seen_date
    from {{ ref('dim_customers') }}
    where not is_erased
),

orders as (
    select
        customer_id,
        order_id,
        ordered_date,
        is_completed,
        order_status = 'returned' as is_returned,
        total_amount_reporting
    from {{ ref('fct_orders') }}
    where customer_id is not null
),

order_categories as (
    select distinct
        orders.customer_id,
        orders.ordered_date,
        products.product_category
    from orders
    inner join {{ ref('stg_landing__order_items') }} as items on orders.order_id = items.order_id
    inner join {{ ref('stg_landing__products') }} as products on items.product_id = products.product_id
    where orders.is_completed
),

-- web and e-mail activity per customer and day, kept between runs (docs/incremental.md)
web_days as (
    select * from {{ ref('int_customer_web_days') }}
),

email_days as (
    select * from {{ ref('int_customer_email_days') }}
),

order_features as (
    select
        orders.customer_id,
        cutoffs.cutoff_date,
        count(case when orders.is_completed then 1 end) as frequency,
        coalesce(sum(case when orders.is_completed then orders.total_amount_reporting end), 0) as monetary,
        count(case when orders.is_completed and orders.ordered_date > {{ dbt.dateadd('day', -30, 'cutoffs.cutoff_date') }} then 1 end) as orders_30d,
        count(case when orders.is_completed and orders.ordered_date > {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }} then 1 end) as orders_90d,
        coalesce(sum(case when orders.is_completed and orders.ordered_date > {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }} then orders.total_amount_reporting end), 0) as spend_90d,
        count(case when orders.is_returned then 1 end) as returned_orders,
        min(case when orders.is_completed then orders.ordered_date end) as first_order_date,
        max(case when orders.is_completed then orders.ordered_date end) as last_order_date,
        min(orders.ordered_date) as first_any_order_date
    from orders
    inner join cutoffs on orders.ordered_date <= cutoffs.cutoff_date
    group by orders.customer_id, cutoffs.cutoff_date
),

category_features as (
    select
        order_categories.customer_id,
        cutoffs.cutoff_date,
        count(distinct order_categories.product_category) as distinct_categories
    from order_categories
    inner join cutoffs on order_categories.ordered_date <= cutoffs.cutoff_date
    group by order_categories.customer_id, cutoffs.cutoff_date
),

{#- Web and e-mail activity is read for the lookback before each cutoff only (its cost follows a
    year of activity, not the whole history); when someone first appeared and unsubscribed is read
    once per customer. Sessions are counted per day they touch: a session past midnight counts twice,
    which keeps the count a sum (no distinct over millions of session ids). -#}
{%- set lookback = var('ml_activity_lookback_days') | int %}

web_features as (
    select
        web_days.customer_id,
        cutoffs.cutoff_date,
        sum(case when web_days.occurred_date > {{ dbt.dateadd('day', -30, 'cutoffs.cutoff_date') }} then web_days.sessions else 0 end) as sessions_30d,
        sum(case when web_days.occurred_date > {{ dbt.dateadd('day', -30, 'cutoffs.cutoff_date') }} then web_days.page_views else 0 end) as page_views_30d,
        sum(case when web_days.occurred_date > {{ dbt.dateadd('day', -30, 'cutoffs.cutoff_date') }} then web_days.product_views else 0 end) as product_views_30d,
        sum(case when web_days.occurred_date > {{ dbt.dateadd('day', -30, 'cutoffs.cutoff_date') }} then web_days.add_to_carts else 0 end) as add_to_carts_30d,
        sum(case when web_days.occurred_date > {{ dbt.dateadd('day', -30, 'cutoffs.cutoff_date') }} then web_days.searches else 0 end) as searches_30d,
        sum(case when web_days.occurred_date > {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }} then web_days.sessions else 0 end) as sessions_90d,
        max(web_days.occurred_date) as last_visit_date
    from web_days
    inner join cutoffs
        on web_days.occurred_date <= cutoffs.cutoff_date
        and web_days.occurred_date > {{ dbt.dateadd('day', -lookback, 'cutoffs.cutoff_date') }}
    group by web_days.customer_id, cutoffs.cutoff_date
),

email_features as (
    select
        email_days.customer_id,
        cutoffs.cutoff_date,
        sum(case when email_days.occurred_date > {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }} then email_days.deliveries else 0 end) as email_deliveries_90d,
        sum(case when email_days.occurred_date > {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }} then email_days.opens else 0 end) as email_opens_90d,
        sum(case when email_days.occurred_date > {{ dbt.dateadd('day', -90, 'cutoffs.cutoff_date') }} then email_days.clicks else 0 end) as email_clicks_90d,
        max(case when email_days.opens > 0 then email_days.occurred_date end) as last_email_open_date
    from email_days
    inner join cutoffs
        on email_days.occurred_date <= cutoffs.cutoff_date
        and email_days.occurred_date > {{ dbt.dateadd('day', -lookback, 'cutoffs.cutoff_date') }}
    group by email_days.customer_id, cutoffs.cutoff_date
),

first_activity as (
    select
        customer_id,
        min(first_visit_date) as first_visit_date,
        min(first_email_date) as first_email_date,
        min(first_unsubscribe_date) as first_unsubscribe_date
    from (
        select
            customer_id,
            min(occurred_date) as first_visit_date,
            cast(null as date) as first_email_date,
            cast(null as date) as first_unsubscribe_date
        from web_days group by customer_id
        union all
        select
            customer_id,
            cast(null as date),
            min(occurred_date),
            min(case when unsubscribes > 0 then occurred_date end)
        from email_days group by customer_id
    ) as firsts
    group by customer_id
),

customer_cutoffs as (
    select
        customers.customer_id,
        customers.gender,
        customers.birth_date,
        cutoffs.cutoff_date,
        -- known since the first record, order, visit or e-mail on or before the cutoff
        least(
            coalesce(case when customers.first_seen_date <= cutoffs.cutoff_date then customers.first_seen_date end, cutoffs.cutoff_date),
            coalesce(order_features.first_any_order_date, cutoffs.cutoff_date),
            coalesce(case when first_activity.first_visit_date <= cutoffs.cutoff_date then first_activity.first_visit_date end, cutoffs.cutoff_date),
            coalesce(case when first_activity.first_email_date <= cutoffs.cutoff_date then first_activity.first_email_date end, cutoffs.cutoff_date)
        ) as first_known_date,
        customers.first_seen_date <= cutoffs.cutoff_date
            or order_features.customer_id is not null
            or first_activity.first_visit_date <= cutoffs.cutoff_date
            or first_activity.first_email_date <= cutoffs.cutoff_date as is_known_at_cutoff,
        order_features.frequency,
        order_features.monetary,
        order_features.orders_30d,
        order_features.orders_90d,
        order_features.spend_90d,
        order_features.returned_orders,
        order_features.first_order_date,
        order_features.last_order_date,
        category_features.distinct_categories,
        web_features.sessions_30d,
        web_features.sessions_90d,
        web_features.page_views_30d,
        web_features.product_views_30d,
        web_features.add_to_carts_30d,
        web_features.searches_30d,
        web_features.last_visit_date,
        email_features.email_deliveries_90d,
        email_features.email_opens_90d,
        email_features.email_clicks_90d,
        email_features.last_email_open_date,
        coalesce(first_activity.first_unsubscribe_date <= cutoffs.cutoff_date, false) as has_unsubscribed
    from customers
    cross join cutoffs
    left join order_features
        on customers.customer_id = order_features.customer_id and cutoffs.cutoff_date = order_features.cutoff_date
    left join category_features
        on customers.customer_id = category_features.customer_id and cutoffs.cutoff_date = category_features.cutoff_date
    left join web_features
        on customers.customer_id = web_features.customer_id and cutoffs.cutoff_date = web_features.cutoff_date
    left join email_features
        on customers.customer_id = email_features.customer_id and cutoffs.cutoff_date = email_features.cutoff_date
    left join first_activity on customers.customer_id = first_activity.customer_id
),

final as (
    select
        customer_id,
        coalesce(gender, 'unknown') as gender,
        {{ ml_age_band('birth_date', 'cutoff_date') }} as age_band,
        cast(coalesce(frequency, 0) as {{ dbt.type_int() }}) as frequency,
        cast(coalesce(monetary, 0) as double) as monetary,
        cast(monetary as double) / nullif(frequency, 0) as average_order_value,
        {{ dbt.datediff('last_order_date', 'cutoff_date', 'day') }} as recency_days,
        {{ dbt.datediff('first_known_date', 'cutoff_date', 'day') }} as tenure_days,
        -- mean gap between completed orders: null until a second order
        cast({{ dbt.datediff('first_order_date', 'last_order_date', 'day') }} as double)
            / nullif(frequency - 1, 0) as days_between_orders,
        cast(coalesce(orders_30d, 0) as {{ dbt.type_int() }}) as orders_30d,
        cast(coalesce(orders_90d, 0) as {{ dbt.type_int() }}) as orders_90d,
        cast(coalesce(spend_90d, 0) as double) as spend_90d,
        cast(coalesce(returned_orders, 0) as double) / nullif(coalesce(frequency, 0) + coalesce(returned_orders, 0), 0) as return_rate,
        cast(coalesce(distinct_categories, 0) as {{ dbt.type_int() }}) as distinct_categories,
        cast(coalesce(sessions_30d, 0) as {{ dbt.type_int() }}) as sessions_30d,
        cast(coalesce(sessions_90d, 0) as {{ dbt.type_int() }}) as sessions_90d,
        cast(coalesce(page_views_30d, 0) as {{ dbt.type_int() }}) as page_views_30d,
        cast(coalesce(product_views_30d, 0) as {{ dbt.type_int() }}) as product_views_30d,
        cast(coalesce(add_to_carts_30d, 0) as {{ dbt.type_int() }}) as add_to_carts_30d,
        cast(coalesce(searches_30d, 0) as {{ dbt.type_int() }}) as searches_30d,
        {{ dbt.datediff('last_visit_date', 'cutoff_date', 'day') }} as days_since_last_visit,
        cast(coalesce(email_deliveries_90d, 0) as {{ dbt.type_int() }}) as email_deliveries_90d,
        cast(coalesce(email_opens_90d, 0) as {{ dbt.type_int() }}) as email_opens_90d,
        cast(coalesce(email_clicks_90d, 0) as {{ dbt.type_int() }}) as email_clicks_90d,
        cast(email_opens_90d as double) / nullif(email_deliveries_90d, 0) as email_open_rate_90d,
        cast(email_clicks_90d as double) / nullif(email_deliveries_90d, 0) as email_click_rate_90d,
        {{ dbt.datediff('last_email_open_date', 'cutoff_date', 'day') }} as days_since_last_email_open,
        has_unsubscribed as is_unsubscribed,
        coalesce(frequency, 0) > 0 as is_buyer,
        cutoff_date
    from customer_cutoffs
    where is_known_at_cutoff
)

select * from final
