-- The 90-day engagement reads the e-mail events of its window only; who has e-mail events and
-- when they last unsubscribed come from the per-customer-day summary, which is kept between
-- runs: the history is not scanned each day.
with

recent_email_events as (
    select * from {{ ref('int_email_events_identified') }}
    where customer_id is not null
        and {{ is_in_window('occurred_at', 90) }}
),

email_days as (
    select * from {{ ref('int_customer_email_days') }}
    where occurred_date <= {{ as_of_date() }}
),

email_consent_events as (
    select * from {{ ref('int_consent_events_identified') }}
    where purpose = 'email_marketing'
        and occurred_at < {{ as_of_cutoff_utc() }}
),

-- one row per e-mail (customer and campaign) with events in the window, so that
-- opening one e-mail five times counts once; events without a campaign match no e-mail
emails as (
    select
        customer_id,
        campaign_id,
        max(case when event_type = 'sent' then 1 else 0 end) as is_sent,
        max(case when event_type = 'delivered' then 1 else 0 end) as is_delivered,
        max(case when event_type = 'open' then 1 else 0 end) as is_opened,
        max(case when event_type = 'click' then 1 else 0 end) as is_clicked
    from recent_email_events
    where campaign_id is not null
    group by customer_id, campaign_id
),

-- rates are over the e-mails delivered in the window, so they stay within 0-1 when an
-- open in the window belongs to an e-mail delivered before it
engagement as (
    select
        customer_id,
        sum(is_sent) as email_sends_90d,
        sum(is_delivered) as email_deliveries_90d,
        sum(is_opened) as email_opens_90d,
        sum(is_clicked) as email_clicks_90d,
        1.0 * sum(is_delivered * is_opened) / nullif(sum(is_delivered), 0) as email_open_rate_90d,
        1.0 * sum(is_delivered * is_clicked) / nullif(sum(is_delivered), 0) as email_click_rate_90d
    from emails
    group by customer_id
),

unsubscribes as (
    select
        customer_id,
        max(last_unsubscribed_at) as unsubscribed_at
    from email_days
    where last_unsubscribed_at is not null
    group by customer_id
),

-- the ESP sends no resubscribe event: a later email_marketing grant from any source is one
resubscribes as (
    select
        customer_id,
        max(occurred_at) as resubscribed_at
    from email_consent_events
    where consent_status = 'granted'
    group by customer_id
),

email_customers as (
    select distinct customer_id
    from email_days
),

final as (
    select
        email_customers.customer_id,
        coalesce(engagement.email_sends_90d, 0) as email_sends_90d,
        coalesce(engagement.email_deliveries_90d, 0) as email_deliveries_90d,
        coalesce(engagement.email_opens_90d, 0) as email_opens_90d,
        coalesce(engagement.email_clicks_90d, 0) as email_clicks_90d,
        engagement.email_open_rate_90d,
        engagement.email_click_rate_90d,
        -- at the same instant the unsubscribe wins, as in customer_consent
        unsubscribes.unsubscribed_at is not null
            and (resubscribes.resubscribed_at is null or resubscribes.resubscribed_at <= unsubscribes.unsubscribed_at)
            as is_unsubscribed,
        unsubscribes.unsubscribed_at
    from email_customers
    left join engagement
        on engagement.customer_id = email_customers.customer_id
    left join unsubscribes
        on unsubscribes.customer_id = email_customers.customer_id
    left join resubscribes
        on resubscribes.customer_id = email_customers.customer_id
)

select * from final
