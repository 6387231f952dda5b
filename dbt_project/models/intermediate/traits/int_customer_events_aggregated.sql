-- The windowed counts read the events of the widest window only (30 days); the first and last
-- event come from the per-customer-day summary, which is kept between runs: the history is not
-- scanned each day. Staging already drops events after the cutoff; filtering again keeps the
-- windows right on their own.
with

recent_events as (
    select * from {{ ref('int_events_identified') }}
    where customer_id is not null
        and {{ is_in_window('occurred_at', 30) }}
),

event_days as (
    select * from {{ ref('int_customer_web_days') }}
    where occurred_date <= {{ as_of_date() }}
),

-- the 30-day counts are over all of recent_events: widen it before adding a longer window
windows as (
    select
        customer_id,
        count(case when event_type = 'product_view' and {{ is_in_window('occurred_at', 24, 'hour') }} then event_id end) as product_views_24h,
        count(case when event_type = 'product_view' and {{ is_in_window('occurred_at', 7) }} then event_id end) as product_views_7d,
        count(case when event_type = 'product_view' then event_id end) as product_views_30d,
        count(distinct case when {{ is_in_window('occurred_at', 7) }} then session_id end) as sessions_7d,
        count(distinct session_id) as sessions_30d,
        count(case when event_type = 'add_to_cart' and {{ is_in_window('occurred_at', 7) }} then event_id end) as add_to_carts_7d,
        count(case when event_type = 'add_to_cart' then event_id end) as add_to_carts_30d
    from recent_events
    group by customer_id
),

first_and_last as (
    select
        customer_id,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_visit_at
    from event_days
    group by customer_id
),

final as (
    select
        first_and_last.customer_id,
        coalesce(windows.product_views_24h, 0) as product_views_24h,
        coalesce(windows.product_views_7d, 0) as product_views_7d,
        coalesce(windows.product_views_30d, 0) as product_views_30d,
        coalesce(windows.sessions_7d, 0) as sessions_7d,
        coalesce(windows.sessions_30d, 0) as sessions_30d,
        coalesce(windows.add_to_carts_7d, 0) as add_to_carts_7d,
        coalesce(windows.add_to_carts_30d, 0) as add_to_carts_30d,
        first_and_last.first_event_at,
        first_and_last.last_visit_at
    from first_and_last
    left join windows
        on windows.customer_id = first_and_last.customer_id
)

select * from final
