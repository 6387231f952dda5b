-- Segment sizes per as-of date, with how many customers entered and left since
-- the previous evaluation: the trend a marketer watches.
with

evaluations as (
    select * from {{ ref('segment_evaluations') }}
),

history as (
    select * from {{ ref('customer_segment_history') }}
),

entered as (
    select segment_name, entered_at as as_of_date, count(*) as entered_count
    from history
    group by all
),

exited as (
    select segment_name, exited_at as as_of_date, count(*) as exited_count
    from history
    where exited_at is not null
    group by all
),

final as (
    select
        evaluations.as_of_date,
        evaluations.segment_name,
        evaluations.member_count,
        coalesce(entered.entered_count, 0) as entered_count,
        coalesce(exited.exited_count, 0) as exited_count,
        evaluations.member_count - lag(evaluations.member_count) over (
            partition by evaluations.segment_name order by evaluations.as_of_date
        ) as change_since_previous
    from evaluations
    left join entered
        on entered.segment_name = evaluations.segment_name
        and entered.as_of_date = evaluations.as_of_date
    left join exited
        on exited.segment_name = evaluations.segment_name
        and exited.as_of_date = evaluations.as_of_date
)

select * from final
