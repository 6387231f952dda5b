{{ config(
    materialized='incremental',
    full_refresh=false,
    pre_hook="{{ delete_as_of_rows() }}",
    **as_of_slice_config(),
) }}

-- One row per segment and as-of date it was evaluated, with its size: an empty
-- segment is recorded too, so an exit to zero members is seen.
with

definitions as (
    select * from {{ ref('int_segment_definitions') }}
),

members as (
    select * from {{ ref('int_segment_members') }}
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        definitions.segment_name,
        count(members.customer_id) as member_count
    from definitions
    left join members
        on members.segment_name = definitions.segment_name
    group by definitions.segment_name
)

select * from final
