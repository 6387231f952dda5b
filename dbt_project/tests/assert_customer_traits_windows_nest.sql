{#- Windows all end at the cutoff, so a shorter one never counts more than a longer
    one, nor a window more than all time. -#}
with

customer_traits as (
    select * from {{ ref('customer_traits') }}
),

final as (
    select *
    from customer_traits
    where product_views_24h > product_views_7d
        or product_views_7d > product_views_30d
        or sessions_7d > sessions_30d
        or add_to_carts_7d > add_to_carts_30d
        or purchases_30d > purchases_90d
        or purchases_90d > purchases_365d
        or purchases_365d > order_count
        or spend_30d > spend_90d
        or spend_90d > spend_365d
        or spend_365d > total_spend
        or top_viewed_product_views_7d > product_views_7d
)

select * from final
