-- The offer each customer should get now (as of the run's date) and why.
with

offer_history as (
    select * from {{ ref('customer_offer_history') }}
),

definitions as (
    select * from {{ ref('int_offer_definitions') }}
),

final as (
    select
        offer_history.customer_id,
        offer_history.offer_name,
        definitions.offer_description,
        definitions.detail_field,
        offer_history.offer_detail,
        offer_history.reason,
        offer_history.passed_over_in_cooldown,
        definitions.priority,
        definitions.offer_owner,
        offer_history.as_of_date
    from offer_history
    inner join definitions
        on definitions.offer_name = offer_history.offer_name
    where offer_history.as_of_date = {{ as_of_date() }}
)

select * from final
