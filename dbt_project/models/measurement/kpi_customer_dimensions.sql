-- Every customer's place in each dimension the KPIs are cut by, at the as-of date:
-- one row per (customer, dimension, value). A customer is in `overall` once, in every
-- segment they are a member of, in one persona and one RFM segment, and in the arm of
-- every experiment they were assigned to by then.
with

customers as (
    select customer_id from {{ ref('dim_customers') }}
    where not is_erased
),

segments as (
    select customer_id, segment_name from {{ ref('customer_segment_membership') }}
),

personas as (
    select customer_id, persona_name from {{ source('ml_outputs', 'customer_clusters') }}
),

rfm as (
    select customer_id, rfm_segment from {{ ref('fct_customer_rfm') }}
),

arms as (
    select customer_id, audience_name || ' / ' || arm as experiment_arm
    from {{ source('activation', 'experiment_assignments') }}
    where assigned_as_of <= {{ as_of_date() }}
),

final as (
    select customer_id, 'overall' as dimension, 'all customers' as dimension_value from customers
    union all
    select customer_id, 'segment', segment_name from segments
    union all
    select customer_id, 'persona', persona_name from personas
    union all
    select customer_id, 'rfm_segment', rfm_segment from rfm
    union all
    select customer_id, 'experiment_variant', experiment_arm from arms
)

-- only customers who exist now (an experiment remembers customers merged away since)
select final.*
from final
inner join customers using (customer_id)
