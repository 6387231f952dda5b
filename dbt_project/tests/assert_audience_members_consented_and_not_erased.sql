-- Dagster shows this test as a check on the model named here (it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'audience_rfm_champions_email'}}}) }}

-- Nobody reaches an email audience without current email-marketing consent, a
-- valid email and an unerased profile. Rows returned are members that break this.
with

audience as (
    select * from {{ ref('audience_rfm_champions_email') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

consent as (
    select * from {{ ref('customer_consent') }}
    where purpose = 'email_marketing'
)

select
    audience.customer_id
from audience
left join customers
    on customers.customer_id = audience.customer_id
left join consent
    on consent.customer_id = audience.customer_id
where consent.consent_status is distinct from 'granted'
    or customers.is_erased is distinct from false
    or customers.email is distinct from audience.email
