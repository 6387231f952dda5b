{{ config(tags=['identity']) }}

with

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

final as (
    select
        customer_record_id,
        customer_id,
        source_system,
        source_customer_id,
        matched_on
    from customer_records
)

select * from final
