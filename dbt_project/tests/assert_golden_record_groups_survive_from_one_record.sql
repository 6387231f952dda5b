-- A group's attributes (the address) survive together: all from one record.
-- Rows returned are customers whose surviving group values come from several.
with

candidates as (
    select * from {{ ref('int_customer_attribute_candidates_ranked') }}
)

select
    customer_id,
    attribute_group,
    count(distinct customer_record_id) as winning_records
from candidates
where is_survivor
group by customer_id, attribute_group
having count(distinct customer_record_id) > 1
