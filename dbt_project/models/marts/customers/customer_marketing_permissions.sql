with

customers as (
    select * from {{ ref('dim_customers') }}
    where not is_erased
),

consent as (
    select * from {{ ref('customer_consent') }}
),

statuses as (
    select
        customer_id,
        max(consent_status) filter (where purpose = 'email_marketing') as email_marketing_status,
        max(consent_status) filter (where purpose = 'sms_marketing') as sms_marketing_status,
        max(consent_status) filter (where purpose = 'ad_targeting') as ad_targeting_status,
        max(consent_status) filter (where purpose = 'personalization') as personalization_status,
        coalesce(bool_or(purpose = 'direct_marketing' and consent_status = 'objected'), false)
            as has_objected_to_direct_marketing,
        coalesce(bool_or(purpose = 'profiling' and consent_status = 'objected'), false) as has_objected_to_profiling
    from consent
    group by customer_id
),

final as (
    select
        customers.customer_id,
        statuses.email_marketing_status,
        statuses.sms_marketing_status,
        statuses.ad_targeting_status,
        statuses.personalization_status,
        coalesce(statuses.has_objected_to_direct_marketing, false) as has_objected_to_direct_marketing,
        coalesce(statuses.has_objected_to_profiling, false) as has_objected_to_profiling,
        coalesce(
            statuses.email_marketing_status = 'granted'
            and not statuses.has_objected_to_direct_marketing
            and customers.has_email,
            false
        ) as can_email,
        coalesce(
            statuses.sms_marketing_status = 'granted'
            and not statuses.has_objected_to_direct_marketing
            and customers.has_phone,
            false
        ) as can_sms,
        coalesce(
            statuses.ad_targeting_status = 'granted'
            and not statuses.has_objected_to_direct_marketing
            and not statuses.has_objected_to_profiling,
            false
        ) as can_target_ads,
        coalesce(
            statuses.personalization_status = 'granted'
            and not statuses.has_objected_to_profiling,
            false
        ) as can_personalise
    from customers
    left join statuses
        on statuses.customer_id = customers.customer_id
)

select * from final
