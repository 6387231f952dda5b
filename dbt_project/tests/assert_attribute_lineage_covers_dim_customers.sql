-- Dagster shows this test as a check on the model named here (it reads two).
{{ config(meta={'dagster': {'ref': {'name': 'customer_attribute_lineage'}}}) }}

-- Every value dim_customers shows has exactly one lineage row, and lineage has
-- no row for a value dim_customers does not show (an erased customer's
-- personal data). Rows returned break this.
with

customers as (
    select * from {{ ref('dim_customers') }}
),

lineage as (
    select * from {{ ref('customer_attribute_lineage') }}
),

shown_values as (
    {% for attribute in golden_record_attributes() -%}
    select customer_id, '{{ attribute.name }}' as attribute
    from customers
    where {{ attribute.name }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

lineage_counts as (
    select
        customer_id,
        attribute,
        count(*) as lineage_rows
    from lineage
    group by customer_id, attribute
)

select
    coalesce(shown_values.customer_id, lineage_counts.customer_id) as customer_id,
    coalesce(shown_values.attribute, lineage_counts.attribute) as attribute,
    lineage_counts.lineage_rows
from shown_values
full outer join lineage_counts
    on lineage_counts.customer_id = shown_values.customer_id
    and lineage_counts.attribute = shown_values.attribute
where shown_values.customer_id is null
    or lineage_counts.customer_id is null
    or lineage_counts.lineage_rows <> 1
