-- One row per customer (not erased): everything segment and offer rules may test,
-- as of the run's date: customer attributes, RFM and traits. Rules name these
-- columns (docs/segments.md); every column is cast to its contract type so that
-- the documented columns, which rule validation reads, are exactly the real ones.
with

customers as (
    select * from {{ ref('dim_customers') }}
),

rfm as (
    select * from {{ ref('fct_customer_rfm') }}
),

traits as (
    select * from {{ ref('customer_traits') }}
),

final as (
    select
        customers.customer_id,
        {{ as_of_date() }} as as_of_date,
        cast(customers.country_code as {{ dbt.type_string() }}) as country_code,
        cast(customers.language_code as {{ dbt.type_string() }}) as language_code,
        cast(customers.has_email as boolean) as has_email,
        cast(customers.has_phone as boolean) as has_phone,
        cast(customers.source_records_count as bigint) as source_records_count,
        cast(rfm.rfm_segment as {{ dbt.type_string() }}) as rfm_segment,
        cast(rfm.recency_days as bigint) as recency_days,
        cast(rfm.frequency as bigint) as frequency,
        cast(rfm.monetary as decimal(18, 2)) as monetary,
        cast(rfm.recency_score as bigint) as recency_score,
        cast(rfm.frequency_score as bigint) as frequency_score,
        cast(rfm.monetary_score as bigint) as monetary_score,
        cast(rfm.has_purchased_in_lookback as boolean) as has_purchased_in_lookback,
        cast(traits.product_views_24h as bigint) as product_views_24h,
        cast(traits.product_views_7d as bigint) as product_views_7d,
        cast(traits.product_views_30d as bigint) as product_views_30d,
        cast(traits.sessions_7d as bigint) as sessions_7d,
        cast(traits.sessions_30d as bigint) as sessions_30d,
        cast(traits.add_to_carts_7d as bigint) as add_to_carts_7d,
        cast(traits.add_to_carts_30d as bigint) as add_to_carts_30d,
        cast(traits.purchases_30d as bigint) as purchases_30d,
        cast(traits.purchases_90d as bigint) as purchases_90d,
        cast(traits.purchases_365d as bigint) as purchases_365d,
        cast(traits.spend_30d as decimal(18, 2)) as spend_30d,
        cast(traits.spend_90d as decimal(18, 2)) as spend_90d,
        cast(traits.spend_365d as decimal(18, 2)) as spend_365d,
        cast(traits.cart_abandoned_at as timestamp) as cart_abandoned_at,
        cast(traits.is_cart_abandoner_24h as boolean) as is_cart_abandoner_24h,
        cast(traits.open_cart_value as decimal(18, 2)) as open_cart_value,
        cast(traits.last_visit_at as timestamp) as last_visit_at,
        cast(traits.hours_since_last_visit as bigint) as hours_since_last_visit,
        cast(traits.first_order_date as date) as first_order_date,
        cast(traits.last_order_date as date) as last_order_date,
        cast(traits.days_since_last_order as bigint) as days_since_last_order,
        cast(traits.order_count as bigint) as order_count,
        cast(traits.total_spend as decimal(18, 2)) as total_spend,
        cast(traits.average_order_value as double) as average_order_value,
        cast(traits.return_rate as double) as return_rate,
        cast(traits.email_sends_90d as bigint) as email_sends_90d,
        cast(traits.email_deliveries_90d as bigint) as email_deliveries_90d,
        cast(traits.email_opens_90d as bigint) as email_opens_90d,
        cast(traits.email_clicks_90d as bigint) as email_clicks_90d,
        cast(traits.email_open_rate_90d as double) as email_open_rate_90d,
        cast(traits.email_click_rate_90d as double) as email_click_rate_90d,
        cast(traits.is_unsubscribed as boolean) as is_unsubscribed,
        cast(traits.preferred_category as {{ dbt.type_string() }}) as preferred_category,
        cast(traits.preferred_channel as {{ dbt.type_string() }}) as preferred_channel,
        cast(traits.preferred_device as {{ dbt.type_string() }}) as preferred_device,
        cast(traits.top_viewed_product_id as {{ dbt.type_string() }}) as top_viewed_product_id,
        cast(traits.top_viewed_product_views_7d as bigint) as top_viewed_product_views_7d,
        cast(traits.top_viewed_product_category as {{ dbt.type_string() }}) as top_viewed_product_category,
        cast(traits.tenure_days as bigint) as tenure_days
    from customers
    left join rfm
        on rfm.customer_id = customers.customer_id
    left join traits
        on traits.customer_id = customers.customer_id
    -- an erased customer is nobody's target
    where not customers.is_erased
)

select * from final
