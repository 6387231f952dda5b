with

-- the identifiers other sources carry: consent and email events name an email,
-- erasure requests an email or phone, uploaded segment lists any of them
identifiers as (
    select * from {{ ref('int_customer_identifiers_unioned') }}
    where identifier_type in ('email', 'phone', 'loyalty_id')
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

identifier_customers as (
    select distinct
        identifiers.identifier_type,
        identifiers.identifier_value,
        customer_records.customer_id
    from identifiers
    inner join customer_records
        on customer_records.customer_record_id = identifiers.customer_record_id
),

final as (
    select
        {{ surrogate_key(['identifier_type', 'identifier_value', 'customer_id']) }} as identifier_customer_id,
        customer_id,
        identifier_type,
        identifier_value,
        count(*) over (partition by identifier_type, identifier_value) as customers_with_identifier
    from identifier_customers
)

select * from final
