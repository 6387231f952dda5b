{{ config(
    materialized='incremental',
    full_refresh=false,
    pre_hook="{{ delete_as_of_rows() }}",
    **as_of_slice_config(),
) }}

-- What each arm of each experiment did after the send, per as-of date: the input
-- of the readout (cdp/measure, docs/experiments.md). Customers enter an experiment
-- when first eligible (marts.experiment_assignments.assigned_as_of, the day their
-- first file was written); each one's orders count from the next day for at most
-- `experiment_outcome_days` days, up to the as-of date. Customers assigned on the
-- as-of date itself have no day observed yet and wait for the next run.
with

assignments as (
    select
        experiment_id,
        audience_name,
        customer_id,
        arm,
        assigned_as_of,
        cast({{ dbt.dateadd('day', 1, 'assigned_as_of') }} as timestamp) as observed_from,
        least(
            {{ dbt.dateadd('day', var('experiment_outcome_days'), 'cast(' ~ dbt.dateadd('day', 1, 'assigned_as_of') ~ ' as timestamp)') }},
            {{ as_of_cutoff_utc() }}
        ) as observed_until
    from {{ source('activation', 'experiment_assignments') }}
    where assigned_as_of < {{ as_of_date() }}
),

orders as (
    select customer_id, ordered_at, total_amount_reporting
    from {{ ref('fct_orders') }}
    where is_completed
        and customer_id is not null
),

per_customer as (
    select
        assignments.experiment_id,
        assignments.audience_name,
        assignments.arm,
        assignments.customer_id,
        assignments.assigned_as_of,
        count(orders.customer_id) > 0 as converted,
        coalesce(sum(orders.total_amount_reporting), 0)::double as revenue
    from assignments
    left join orders
        on orders.customer_id = assignments.customer_id
        and orders.ordered_at >= assignments.observed_from
        and orders.ordered_at < assignments.observed_until
    group by all
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        experiment_id,
        audience_name,
        arm,
        count(*) as customers,
        count(*) filter (where converted) as converting_customers,
        sum(revenue) as revenue_sum,
        avg(revenue) as revenue_mean,
        coalesce(var_samp(revenue), 0) as revenue_variance,
        min(assigned_as_of) as first_assigned_as_of,
        cast(least(
            {{ dbt.datediff('min(assigned_as_of)', as_of_date(), 'day') }}, {{ var('experiment_outcome_days') }}
        ) as integer) as days_observed
    from per_customer
    group by experiment_id, audience_name, arm
)

select * from final
