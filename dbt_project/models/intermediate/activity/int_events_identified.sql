with

events as (
    select * from {{ ref('stg_landing__events') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

anonymous_ids as (
    select * from {{ ref('int_anonymous_ids_identified') }}
),

-- a logged-in event names its customer; any other event of a device that has
-- logged in (before or after) belongs to the device's customer
final as (
    select
        events.event_id,
        coalesce(customer_records.customer_id, anonymous_ids.customer_id) as customer_id,
        events.anonymous_id,
        events.source_system,
        events.source_customer_id,
        events.session_id,
        events.product_id,
        events.event_type,
        case
            when customer_records.customer_id is not null then 'login'
            when anonymous_ids.customer_id is not null then 'device'
        end as identified_by,
        events.page_url,
        events.referrer,
        events.device_type,
        events.search_query,
        events.product_category,
        events.login_method,
        events.properties,
        events.quantity,
        events.occurred_date,
        events.occurred_at
    from events
    left join customer_records
        on customer_records.source_system = events.source_system
        and customer_records.source_customer_id = events.source_customer_id
    left join anonymous_ids
        on anonymous_ids.anonymous_id = events.anonymous_id
)

select * from final
