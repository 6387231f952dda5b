{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['customer_id', 'occurred_date'],
    on_schema_change='fail',
    pre_hook="{{ empty_summary_when_reading_in_full(ref('int_events_identified'), '_events_built_at') }}",
    post_hook="{{ delete_summary_placeholders('sessions') }}",
) }}

{#-
    Web activity per customer and day (UTC): sessions and events by type, the first and last event,
    the rows point-in-time features and the event traits' all-time figures are computed from
    (customer_features and int_customer_events_aggregated read these, not every event). Sessions are
    counted per day they touch. Incremental (docs/incremental.md): a daily build summarises again
    only the customer days of the events int_events_identified stamped since the newest stamp
    held here (`_events_built_at`), including the days events moved away from; on Spark a table
    built in full.
-#}
{%- set events_table = ref('int_events_identified') %}
{%- set read = stamped_fact_read(events_table, '_events_built_at') %}

with

{% if read['mode'] == 'changes' -%}
changed_days as (
    {{ days_of_stamped_rows(events_table, read) }}
),
{%- endif %}

events as (
    select events.customer_id, events.occurred_date, events.occurred_at, events.session_id, events.event_type,
        events._built_at
    {{ identified_rows_of_changed_days(events_table, 'events', read, 'changed_days') }}
),

sessions as (
    select
        customer_id,
        occurred_date,
        session_id,
        count(case when event_type = 'page_view' then 1 end) as page_views,
        count(case when event_type = 'product_view' then 1 end) as product_views,
        count(case when event_type = 'add_to_cart' then 1 end) as add_to_carts,
        count(case when event_type = 'search' then 1 end) as searches,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        max(_built_at) as _built_at
    from events
    group by customer_id, occurred_date, session_id
),

days as (
    select
        customer_id,
        occurred_date,
        count(*) as sessions,
        cast(sum(page_views) as {{ dbt.type_bigint() }}) as page_views,
        cast(sum(product_views) as {{ dbt.type_bigint() }}) as product_views,
        cast(sum(add_to_carts) as {{ dbt.type_bigint() }}) as add_to_carts,
        cast(sum(searches) as {{ dbt.type_bigint() }}) as searches,
        min(first_event_at) as first_event_at,
        max(last_event_at) as last_event_at,
        max(_built_at) as _events_built_at
    from sessions
    group by customer_id, occurred_date
)

select * from days
{%- if read['mode'] == 'changes' %}
union all by name
{{ summary_placeholders('changed_days', 'days') }}
{%- endif %}
