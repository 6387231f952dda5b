{#- The reporting currency converts to itself at 1, and the product price currency
    has a rate: otherwise every converted amount (or cart value) would be off. -#}
with

currency_rates as (
    select * from {{ ref('currency_rates') }}
),

configured as (
    select
        {{ sql_string(var('reporting_currency')) }} as currency_code,
        1 as expected_rate
    union all
    select
        {{ sql_string(var('product_price_currency')) }} as currency_code,
        null as expected_rate
),

final as (
    select
        configured.currency_code,
        configured.expected_rate,
        currency_rates.rate_to_reporting
    from configured
    left join currency_rates
        on currency_rates.currency_code = configured.currency_code
    where currency_rates.currency_code is null
        or currency_rates.rate_to_reporting <> configured.expected_rate
)

select * from final
