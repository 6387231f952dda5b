with

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

identifiers as (
    select * from {{ ref('int_customer_identifiers_unioned') }}
),

records_per_customer as (
    select
        customer_id,
        count(*) as record_count
    from customer_records
    group by customer_id
),

customer_summary as (
    select
        count(*) as customer_count,
        sum(record_count) as source_record_count,
        count(*) filter (where record_count > 1) as multi_record_customer_count,
        max(record_count) as largest_customer_records,
        avg(record_count) as avg_records_per_customer
    from records_per_customer
),

identifier_summary as (
    select
        count(distinct identifier_type || ':' || identifier_value) filter (where is_linking) as linking_identifier_count,
        count(distinct identifier_type || ':' || identifier_value) filter (where is_blocked) as blocked_identifier_count,
        count(*) filter (where is_blocked) as records_with_blocked_identifier
    from identifiers
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        customer_summary.source_record_count,
        customer_summary.customer_count,
        customer_summary.multi_record_customer_count,
        customer_summary.largest_customer_records,
        round(customer_summary.avg_records_per_customer, 3) as avg_records_per_customer,
        round(1 - customer_summary.customer_count / nullif(customer_summary.source_record_count, 0), 4)
            as record_reduction_rate,
        identifier_summary.linking_identifier_count,
        identifier_summary.blocked_identifier_count,
        identifier_summary.records_with_blocked_identifier
    from customer_summary
    cross join identifier_summary
)

select * from final
