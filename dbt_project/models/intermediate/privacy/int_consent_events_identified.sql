with

consent_events as (
    select * from {{ ref('stg_landing__consent_events') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

email_customers as (
    select * from {{ ref('int_identifiers_resolved') }}
    where identifier_type = 'email'
),

by_source_record as (
    select
        consent_events.consent_event_id,
        customer_records.customer_id,
        'source_record' as matched_on
    from consent_events
    inner join customer_records
        on customer_records.source_system = consent_events.source_system
        and customer_records.source_customer_id = consent_events.source_customer_id
),

-- Consent known only by a mailbox: a refusal or withdrawal reaches every customer
-- holding that address (nobody keeps mailing it), but a grant counts only when one
-- customer holds it: one member of a household cannot consent for another.
email_holders as (
    select
        identifier_value,
        count(distinct customer_id) as holder_count
    from email_customers
    group by identifier_value
),

by_email as (
    select
        consent_events.consent_event_id,
        email_customers.customer_id,
        'email' as matched_on
    from consent_events
    inner join email_customers
        on email_customers.identifier_value = {{ email_match_key('consent_events.email') }}
    inner join email_holders
        on email_holders.identifier_value = email_customers.identifier_value
    where consent_events.consent_event_id not in (select consent_event_id from by_source_record)
        and (consent_events.consent_status <> 'granted' or email_holders.holder_count = 1)
),

matches as (
    select * from by_source_record
    union all
    select * from by_email
),

final as (
    select
        {{ surrogate_key(['consent_events.consent_event_id', 'matches.customer_id']) }} as customer_consent_event_id,
        consent_events.consent_event_id,
        matches.customer_id,
        consent_events.source_system,
        consent_events.purpose,
        consent_events.consent_status,
        matches.matched_on,
        consent_events.occurred_at
    from consent_events
    inner join matches
        on matches.consent_event_id = consent_events.consent_event_id
)

select * from final
