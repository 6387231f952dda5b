with

email_events as (
    select * from {{ ref('stg_landing__email_events') }}
),

-- only addresses that belong to exactly one customer attribute engagement
email_customers as (
    select * from {{ ref('int_identifiers_resolved') }}
    where identifier_type = 'email'
        and customers_with_identifier = 1
),

final as (
    select
        email_events.email_event_id,
        email_customers.customer_id,
        email_events.campaign_id,
        email_events.source_system,
        email_events.email,
        email_events.event_type,
        email_events.occurred_date,
        email_events.occurred_at
    from email_events
    left join email_customers
        on email_customers.identifier_value = {{ email_match_key('email_events.email') }}
)

select * from final
