-- Dagster shows this test as a check on the model named here (it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'int_customer_records_resolved'}}}) }}

-- Identity resolution ran enough propagation rounds: every linking identifier's
-- records ended up with one customer. Rows returned are identifiers whose
-- records still carry different customer_ids; raise identity_propagation_rounds.
with

identifiers as (
    select * from {{ ref('int_customer_identifiers_unioned') }}
    where is_linking
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
)

select
    identifiers.identifier_type,
    identifiers.identifier_value,
    count(distinct customer_records.customer_id) as customers
from identifiers
inner join customer_records
    on customer_records.customer_record_id = identifiers.customer_record_id
group by identifiers.identifier_type, identifiers.identifier_value
having count(distinct customer_records.customer_id) > 1
