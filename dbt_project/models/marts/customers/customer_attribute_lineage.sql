with

candidates as (
    select * from {{ ref('int_customer_attribute_candidates_ranked') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

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
        survivors.record_changed_at
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
