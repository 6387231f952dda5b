with

-- staging already drops events after the cutoff; filtering again keeps the windows
-- right on their own
events as (
    select * from {{ ref('int_events_identified') }}
    where customer_id is not null
        and occurred_at < {{ as_of_cutoff_utc() }}
),

final as (
    select
        customer_id,
        count(case when event_type = 'product_view' and {{ is_in_window('occurred_at', 24, 'hour') }} then event_id end) as product_views_24h,
        count(case when event_type = 'product_view' and {{ is_in_window('occurred_at', 7) }} then event_id end) as product_views_7d,
        count(case when event_type = 'product_view' and {{ is_in_window('occurred_at', 30) }} then event_id end) as product_views_30d,
        count(distinct case when {{ is_in_window('occurred_at', 7) }} then session_id end) as sessions_7d,
        count(distinct case when {{ is_in_window('occurred_at', 30) }} then session_id end) as sessions_30d,
        count(case when event_type = 'add_to_cart' and {{ is_in_window('occurred_at', 7) }} then event_id end) as add_to_carts_7d,
        count(case when event_type = 'add_to_cart' and {{ is_in_window('occurred_at', 30) }} then event_id end) as add_to_carts_30d,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_visit_at
    from events
    group by customer_id
)

select * from final
