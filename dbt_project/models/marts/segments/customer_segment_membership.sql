-- Current segment membership as of the run's date: one row per customer and
-- segment, with what the segment is and since when the customer has been in it.
with

members as (
    select * from {{ ref('int_segment_members') }}
),

definitions as (
    select * from {{ ref('int_segment_definitions') }}
),

history as (
    select * from {{ ref('customer_segment_history') }}
),

final as (
    select
        {{ surrogate_key(['members.customer_id', 'members.segment_name']) }} as customer_segment_id,
        members.customer_id,
        members.segment_name,
        definitions.segment_type,
        definitions.segment_owner,
        history.entered_at,
        members.as_of_date
    from members
    inner join definitions
        on definitions.segment_name = members.segment_name
    left join history
        on history.customer_id = members.customer_id
        and history.segment_name = members.segment_name
        and history.entered_at <= members.as_of_date
        and (history.exited_at is null or history.exited_at > members.as_of_date)
)

select * from final
