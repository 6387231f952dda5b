-- One row per customer: everything segment and offer rules may test, as of the
-- run's date. Rules name these columns (docs/segments.md); the contract keeps the
-- documented columns and the real ones the same, so rule validation can trust them.
with

customers as (
    select * from {{ ref('dim_customers') }}
),

rfm as (
    select * from {{ ref('fct_customer_rfm') }}
),

final as (
    select
        customers.customer_id,
        {{ as_of_date() }} as as_of_date,
        customers.country_code,
        customers.language_code,
        customers.has_email,
        customers.has_phone,
        customers.source_records_count,
        rfm.rfm_segment,
        rfm.recency_days,
        rfm.frequency,
        rfm.monetary,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        rfm.has_purchased_in_lookback
    from customers
    left join rfm
        on rfm.customer_id = customers.customer_id
    -- an erased customer is nobody's target
    where not customers.is_erased
)

select * from final
