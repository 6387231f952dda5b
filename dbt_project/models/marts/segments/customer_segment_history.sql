-- When each customer entered and left each segment: one row per stretch of
-- membership over the evaluated as-of dates. entered_at is the first as-of date
-- of the stretch; exited_at the first evaluation after it without the customer
-- (null while the customer is still a member).
with

snapshots as (
    select * from {{ ref('customer_segment_snapshots') }}
),

evaluations as (
    select * from {{ ref('segment_evaluations') }}
),

evaluation_order as (
    select
        segment_name,
        as_of_date,
        row_number() over (partition by segment_name order by as_of_date) as evaluation_number,
        lead(as_of_date) over (partition by segment_name order by as_of_date) as next_as_of_date
    from evaluations
),

-- consecutive evaluations with the customer share an island number
islands as (
    select
        snapshots.customer_id,
        snapshots.segment_name,
        snapshots.as_of_date,
        evaluation_order.next_as_of_date,
        evaluation_order.evaluation_number
            - row_number() over (
                partition by snapshots.customer_id, snapshots.segment_name order by snapshots.as_of_date
            ) as island
    from snapshots
    inner join evaluation_order
        on evaluation_order.segment_name = snapshots.segment_name
        and evaluation_order.as_of_date = snapshots.as_of_date
),

final as (
    select
        {{ surrogate_key(['customer_id', 'segment_name', 'min(as_of_date)']) }} as customer_segment_stretch_id,
        customer_id,
        segment_name,
        min(as_of_date) as entered_at,
        -- the evaluation after the last one with the customer (null: still a member;
        -- arg_max would skip that null and return an earlier row's date)
        {{ arg_max_with_nulls('next_as_of_date', 'as_of_date') }} as exited_at,
        count(*) as evaluations_as_member
    from islands
    group by customer_id, segment_name, island
)

select * from final
