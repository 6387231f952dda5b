{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='customer_id',
    on_schema_change='append_new_columns',
    post_hook="{{ delete_lineage_of_customers_without_candidates() }}",
) }}

{#-
    Incremental (docs/incremental.md): a daily build reads again only the customers whose
    candidates were ranked since the newest candidate stamp it holds (`_candidates_built_at`),
    and those flagged erased (their personal attributes leave), and replaces their rows
    (delete+insert by customer). The post-hook deletes the rows of customers who have no
    candidates any more (their records left or merged). On Spark a table built in full.
-#}
{%- set consumed = consumed_build_timestamp('_candidates_built_at') %}

with

customers as (
    select * from {{ ref('dim_customers') }}
),

{% if is_incremental() -%}
changed_customers as (
    select customer_id
    from {{ ref('int_customer_attribute_candidates_ranked') }}
    {%- if consumed %}
    where _built_at > {{ consumed }}
    {%- endif %}

    union

    select customer_id from customers where is_erased
),

candidates as (
    select *
    from {{ ref('int_customer_attribute_candidates_ranked') }}
    where customer_id in (select customer_id from changed_customers)
),
{%- else -%}
candidates as (
    select * from {{ ref('int_customer_attribute_candidates_ranked') }}
),
{%- endif %}

-- conflict visibility: how many records offered a value, how many values differed
offers as (
    select
        customer_id,
        attribute,
        count(*) as offered_records_count,
        count(distinct attribute_value) as distinct_values_count
    from candidates
    group by customer_id, attribute
),

survivors as (
    select * from candidates
    where is_survivor
),

-- an erased customer's personal attributes are gone from dim_customers, and so
-- is their lineage
final as (
    select
        {{ surrogate_key(['survivors.customer_id', 'survivors.attribute']) }} as customer_attribute_lineage_id,
        survivors.customer_id,
        survivors.customer_record_id,
        survivors.source_system,
        survivors.source_customer_id,
        survivors.attribute,
        survivors.attribute_group,
        survivors.survivorship_rule,
        offers.offered_records_count,
        offers.distinct_values_count,
        offers.distinct_values_count > 1 as has_conflict,
        survivors.record_changed_at,
        survivors._built_at as _candidates_built_at
    from survivors
    inner join offers
        on offers.customer_id = survivors.customer_id
        and offers.attribute = survivors.attribute
    inner join customers
        on customers.customer_id = survivors.customer_id
    where not customers.is_erased
        or survivors.attribute not in (
            {%- for attribute in golden_record_personal_attributes() -%}
            '{{ attribute }}'{% if not loop.last %}, {% endif %}
            {%- endfor -%}
        )
)

select * from final
