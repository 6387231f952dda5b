with

customers as (
    select * from {{ ref('stg_landing__customers') }}
),

identifiers as (
    select
        customer_record_id,
        'email' as identifier_type,
        {{ email_match_key('email') }} as identifier_value
    from customers
    where email is not null

    union all

    select
        customer_record_id,
        'phone' as identifier_type,
        phone as identifier_value
    from customers
    where phone is not null

    union all

    select
        customer_record_id,
        'loyalty_id' as identifier_type,
        loyalty_id as identifier_value
    from customers
    where loyalty_id is not null
),

counted as (
    select
        customer_record_id,
        identifier_type,
        identifier_value,
        count(*) over (partition by identifier_type, identifier_value) as records_with_identifier
    from identifiers
),

final as (
    select
        {{ surrogate_key(['customer_record_id', 'identifier_type']) }} as customer_identifier_id,
        customer_record_id,
        identifier_type,
        identifier_value,
        records_with_identifier,
        -- one record cannot link; too many records means a shared placeholder (a till's email)
        identifier_type in ('{{ var("identity_match_keys") | join("', '") }}')
            and records_with_identifier > 1
            and records_with_identifier <= {{ var('identity_max_records_per_identifier') }} as is_linking,
        records_with_identifier > {{ var('identity_max_records_per_identifier') }} as is_blocked
    from counted
)

select * from final
