{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['customer_id', 'occurred_date'],
    on_schema_change='fail',
    pre_hook="{{ empty_summary_when_reading_in_full(ref('int_email_events_identified'), '_email_events_built_at') }}",
    post_hook="{{ delete_summary_placeholders('deliveries') }}",
) }}

{#-
    E-mail engagement per customer and day (UTC), the rows point-in-time features are computed
    from, and the customers and unsubscribe times int_customer_emails_aggregated reads.
    Incremental as int_customer_web_days is, on the stamps of int_email_events_identified.
-#}
{%- set email_events_table = ref('int_email_events_identified') %}
{%- set read = stamped_fact_read(email_events_table, '_email_events_built_at') %}

with

{% if read['mode'] == 'changes' -%}
changed_days as (
    {{ days_of_stamped_rows(email_events_table, read) }}
),
{%- endif %}

days as (
    select
        email_events.customer_id,
        email_events.occurred_date,
        count(case when event_type = 'delivered' then 1 end) as deliveries,
        count(case when event_type = 'open' then 1 end) as opens,
        count(case when event_type = 'click' then 1 end) as clicks,
        count(case when event_type = 'unsubscribe' then 1 end) as unsubscribes,
        max(case when event_type = 'unsubscribe' then email_events.occurred_at end) as last_unsubscribed_at,
        max(email_events._built_at) as _email_events_built_at
    {{ identified_rows_of_changed_days(email_events_table, 'email_events', read, 'changed_days') }}
    group by email_events.customer_id, email_events.occurred_date
)

select * from days
{%- if read['mode'] == 'changes' %}
union all by name
{{ summary_placeholders('changed_days', 'days') }}
{%- endif %}
