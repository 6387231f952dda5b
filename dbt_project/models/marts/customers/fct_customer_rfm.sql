{%- set lookback_start = dbt.dateadd('day', -1 * (var('rfm_lookback_days') | int), as_of_date()) -%}

with

customers as (
    select * from {{ ref('dim_customers') }}
),

orders as (
    select * from {{ ref('fct_orders') }}
    where is_completed
        and customer_id is not null
),

rfm_segments as (
    select * from {{ ref('rfm_segments') }}
),

order_summary as (
    select
        customer_id,
        max(ordered_date) as last_order_date,
        count(case when ordered_date > {{ lookback_start }} then order_id end) as frequency,
        sum(case when ordered_date > {{ lookback_start }} then total_amount_reporting else 0 end) as monetary
    from orders
    group by customer_id
),

metrics as (
    select
        customers.customer_id,
        {{ dbt.datediff('order_summary.last_order_date', as_of_date(), 'day') }} as recency_days,
        coalesce(order_summary.frequency, 0) as frequency,
        coalesce(order_summary.monetary, 0) as monetary,
        order_summary.last_order_date
    from customers
    left join order_summary
        on order_summary.customer_id = customers.customer_id
),

-- quintiles among customers who bought in the lookback; ties go to the customer
-- who is better on the other measures, then by key, so scores are reproducible
-- (nulls last written out: Spark puts them first in ascending order)
scored as (
    select
        customer_id,
        ntile(5) over (order by recency_days desc, frequency, monetary nulls last, customer_id) as recency_score,
        ntile(5) over (order by frequency, monetary nulls last, recency_days desc, customer_id) as frequency_score,
        ntile(5) over (order by monetary nulls last, frequency, recency_days desc, customer_id) as monetary_score
    from metrics
    where frequency > 0
),

segmented as (
    select
        scored.customer_id,
        scored.recency_score,
        scored.frequency_score,
        scored.monetary_score,
        rfm_segments.fm_score,
        rfm_segments.rfm_segment
    from scored
    inner join rfm_segments
        on rfm_segments.recency_score = scored.recency_score
        and rfm_segments.fm_score = cast(floor((scored.frequency_score + scored.monetary_score + 1) / 2.0) as integer)
),

final as (
    select
        metrics.customer_id,
        coalesce(segmented.rfm_segment, 'No Purchases') as rfm_segment,
        metrics.recency_days,
        metrics.frequency,
        metrics.monetary,
        segmented.recency_score,
        segmented.frequency_score,
        segmented.monetary_score,
        segmented.fm_score,
        metrics.frequency > 0 as has_purchased_in_lookback,
        metrics.last_order_date,
        {{ as_of_date() }} as as_of_date
    from metrics
    left join segmented
        on segmented.customer_id = metrics.customer_id
)

select * from final
