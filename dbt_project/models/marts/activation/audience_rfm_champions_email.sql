with

customers as (
    select * from {{ ref('dim_customers') }}
),

rfm as (
    select * from {{ ref('fct_customer_rfm') }}
),

consent as (
    select * from {{ ref('customer_consent') }}
),

members as (
    select
        customers.customer_id,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.phone,
        customers.country_code as country,
        rfm.rfm_segment,
        rfm.monetary,
        customers.birth_date,
        rfm.as_of_date
    from customers
    inner join rfm
        on rfm.customer_id = customers.customer_id
    inner join consent
        on consent.customer_id = customers.customer_id
    where rfm.rfm_segment = 'Champions'
        and consent.purpose = 'email_marketing'
        and consent.consent_status = 'granted'
        and customers.email is not null
        and not customers.is_erased
),

-- destinations key on the email address: one member per address
one_per_email as (
    select
        *,
        row_number() over (partition by email order by monetary desc, customer_id) as email_rank
    from members
),

final as (
    select
        customer_id,
        email,
        first_name,
        last_name,
        phone,
        country,
        rfm_segment,
        birth_date,
        as_of_date
    from one_per_email
    where email_rank = 1
)

select * from final
