{{ config(
    materialized='incremental',
    full_refresh=false,
    pre_hook="{{ delete_as_of_rows() }}",
    **as_of_slice_config(),
) }}

-- Conversion rate, average order value, revenue per customer and e-mail
-- click-through per dimension value (segment, persona, RFM segment, experiment
-- arm, and all customers), one set per as-of date: the history of how each group
-- performs. A re-run of a date replaces that date's rows.
with

dimensions as (
    select * from {{ ref('kpi_customer_dimensions') }}
),

outcomes as (
    select * from {{ ref('kpi_customer_outcomes') }}
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        dimensions.dimension,
        dimensions.dimension_value,
        {{ var('kpi_window_days') }} as window_days,
        count(*) as customers,
        count(*) filter (where outcomes.orders > 0) as converting_customers,
        count(*) filter (where outcomes.orders > 0) / count(*) as conversion_rate,
        coalesce(sum(outcomes.orders), 0) as orders,
        coalesce(sum(outcomes.revenue), 0)::double as revenue,
        sum(outcomes.revenue)::double / nullif(sum(outcomes.orders), 0) as average_order_value,
        coalesce(sum(outcomes.revenue), 0)::double / count(*) as revenue_per_customer,
        coalesce(sum(outcomes.emails_delivered), 0) as emails_delivered,
        coalesce(sum(outcomes.emails_clicked), 0) as emails_clicked,
        sum(outcomes.emails_clicked) / nullif(sum(outcomes.emails_delivered), 0) as email_click_through_rate
    from dimensions
    left join outcomes using (customer_id)
    group by dimensions.dimension, dimensions.dimension_value
)

select * from final
