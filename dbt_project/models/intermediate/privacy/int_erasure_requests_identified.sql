with

erasure_requests as (
    select * from {{ ref('stg_landing__erasure_requests') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

identifier_customers as (
    select * from {{ ref('int_identifiers_resolved') }}
    where identifier_type in ('email', 'phone')
),

-- a request erases every customer holding any identifier it names
matches as (
    select
        erasure_requests.erasure_request_id,
        customer_records.customer_id,
        'source_record' as matched_on
    from erasure_requests
    inner join customer_records
        on customer_records.source_system = erasure_requests.source_system
        and customer_records.source_customer_id = erasure_requests.source_customer_id

    union all

    select
        erasure_requests.erasure_request_id,
        identifier_customers.customer_id,
        'email' as matched_on
    from erasure_requests
    inner join identifier_customers
        on identifier_customers.identifier_type = 'email'
        and identifier_customers.identifier_value = {{ email_match_key('erasure_requests.email') }}

    union all

    select
        erasure_requests.erasure_request_id,
        identifier_customers.customer_id,
        'phone' as matched_on
    from erasure_requests
    inner join identifier_customers
        on identifier_customers.identifier_type = 'phone'
        and identifier_customers.identifier_value = erasure_requests.phone
),

-- one row per request and customer; matched_on names one way it matched (alphabetically first)
first_match as (
    select
        erasure_request_id,
        customer_id,
        min(matched_on) as matched_on
    from matches
    group by erasure_request_id, customer_id
),

final as (
    select
        {{ surrogate_key(['first_match.erasure_request_id', 'first_match.customer_id']) }} as customer_erasure_request_id,
        first_match.erasure_request_id,
        first_match.customer_id,
        first_match.matched_on,
        erasure_requests.requested_at
    from first_match
    inner join erasure_requests
        on erasure_requests.erasure_request_id = first_match.erasure_request_id
)

select * from final
