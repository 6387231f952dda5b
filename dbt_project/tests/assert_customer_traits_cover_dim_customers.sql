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
