-- Dagster shows this test as a check on the model named here (it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'int_customer_records_resolved'}}}) }}

-- Stable ids never blur clusters: the records of one cluster share one
-- customer_id, and one customer_id never spans two clusters. Rows returned are
-- clusters or customer ids that break this.
with

clusters as (
    select * from {{ ref('int_identity_clusters') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

assigned as (
    select
        clusters.anchor_record_rank,
        customer_records.customer_id
    from clusters
    inner join customer_records
        on customer_records.customer_record_id = clusters.customer_record_id
)

select 'cluster with several ids' as problem, cast(anchor_record_rank as {{ dbt.type_string() }}) as subject
from assigned
group by anchor_record_rank
having count(distinct customer_id) > 1

union all

select 'id on several clusters', customer_id
from assigned
group by customer_id
having count(distinct anchor_record_rank) > 1
