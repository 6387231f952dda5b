{#-
    Labels of the supervised models: for every training and validation cutoff, what
    each customer known at that cutoff did in the `horizon_days` after it. A label
    window always ends on or before the as-of date, so labels only use data the run has.
    churn: among buyers at the cutoff (is_buyer), no completed order in the window.
    purchase_propensity: among everyone known, a completed order in the window.
-#}

with cutoffs as (
    select
        model_name,
        cutoff_role,
        horizon_days,
        cutoff_date,
        label_window_end_date
    from {{ ref('feature_cutoffs') }}
    where cutoff_role in ('training', 'validation')
),

features as (
    select
        customer_id,
        cutoff_date,
        is_buyer
    from {{ ref('customer_features') }}
),

completed_orders as (
    select
        customer_id,
        ordered_date
    from {{ ref('fct_orders') }}
    where is_completed and customer_id is not null
),

orders_in_window as (
    select
        cutoffs.model_name,
        cutoffs.cutoff_date,
        completed_orders.customer_id,
        count(*) as completed_orders_in_window
    from cutoffs
    inner join completed_orders
        on completed_orders.ordered_date > cutoffs.cutoff_date
        and completed_orders.ordered_date <= cutoffs.label_window_end_date
    group by cutoffs.model_name, cutoffs.cutoff_date, completed_orders.customer_id
),

final as (
    select
        features.customer_id,
        cutoffs.model_name,
        cutoffs.cutoff_role,
        cutoffs.horizon_days,
        coalesce(orders_in_window.completed_orders_in_window, 0) as completed_orders_in_window,
        case
            when cutoffs.model_name = 'churn' then coalesce(orders_in_window.completed_orders_in_window, 0) = 0
            else coalesce(orders_in_window.completed_orders_in_window, 0) > 0
        end as label,
        cutoffs.cutoff_date,
        cutoffs.label_window_end_date
    from cutoffs
    inner join features on cutoffs.cutoff_date = features.cutoff_date
    left join orders_in_window
        on cutoffs.model_name = orders_in_window.model_name
        and cutoffs.cutoff_date = orders_in_window.cutoff_date
        and features.customer_id = orders_in_window.customer_id
    -- churn is only defined for customers who have bought
    where cutoffs.model_name <> 'churn' or features.is_buyer
)

select * from final
