-- Dagster shows this test as a check on the model named here (it reads two).
{{ config(meta={'dagster': {'ref': {'name': 'customer_traits'}}}) }}
{#- Segments read traits for every customer: none may be missing (relationships on
    customer_id checks the other direction). -#}
with

customers as (
    select * from {{ ref('dim_customers') }}
),

customer_traits as (
    select * from {{ ref('customer_traits') }}
),

final as (
    select customers.customer_id
    from customers
    left join customer_traits
        on customer_traits.customer_id = customers.customer_id
    where customer_traits.customer_id is null
)

select * from final
