{%- set attributes = golden_record_attributes() -%}

with

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

candidates as (
    select * from {{ ref('int_customer_attribute_candidates_ranked') }}
),

customers as (
    select distinct customer_id
    from customer_records
),

survivors as (
    select * from candidates
    where is_survivor
),

-- one column per attribute, back in its own type
pivoted as (
    select
        customer_id,
        {% for attribute in attributes -%}
        {{ golden_record_cast(
            "max(case when attribute = '" ~ attribute.name ~ "' then attribute_value end)",
            attribute.data_type
        ) }} as {{ attribute.name }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from survivors
    group by customer_id
),

-- customers whose records hold no value at all keep their row
final as (
    select
        customers.customer_id,
        {% for attribute in attributes -%}
        pivoted.{{ attribute.name }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from customers
    left join pivoted
        on pivoted.customer_id = customers.customer_id
)

select * from final
