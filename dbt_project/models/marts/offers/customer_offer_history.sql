{{ config(
    materialized='incremental',
    full_refresh=false,
    pre_hook="{{ delete_as_of_rows() }}",
    **as_of_slice_config(),
) }}

-- The offer chosen for each customer per as-of date: the first by priority that the
-- customer qualifies for, is not excluded from, and was not given within its
-- cooldown before this date. Kept across full refreshes (cooldowns read it); a run
-- replaces its own as-of date, so re-running is safe.
with

candidates as (
    select * from {{ ref('int_offer_candidates') }}
    where not is_excluded
),

definitions as (
    select * from {{ ref('int_offer_definitions') }}
),

{% if is_incremental() -%}
earlier_offers as (
    select
        customer_id,
        offer_name,
        max(as_of_date) as last_offered_date
    from {{ this }}
    where as_of_date < {{ as_of_date() }}
    group by customer_id, offer_name
),
{%- endif %}

decided as (
    select
        candidates.*,
        {% if is_incremental() -%}
        earlier_offers.last_offered_date
        {%- else -%}
        cast(null as date)
        {%- endif %} as last_offered_date,
        definitions.cooldown_days
    from candidates
    inner join definitions
        on definitions.offer_name = candidates.offer_name
    {% if is_incremental() -%}
    left join earlier_offers
        on earlier_offers.customer_id = candidates.customer_id
        and earlier_offers.offer_name = candidates.offer_name
    {%- endif %}
),

flagged as (
    select
        *,
        coalesce({{ dbt.datediff('last_offered_date', 'as_of_date', 'day') }} < cooldown_days, false) as is_in_cooldown
    from decided
),

ranked as (
    select
        *,
        -- offers the customer qualified for first, but had too recently
        {{ ordered_array_agg('offer_name', 'priority_rank', where='is_in_cooldown', over=
            'partition by customer_id order by priority_rank rows between unbounded preceding and 1 preceding'
        ) }} as passed_over_in_cooldown,
        row_number() over (partition by customer_id, is_in_cooldown order by priority_rank) as rank_among_available
    from flagged
),

final as (
    select
        {{ surrogate_key(['customer_id', 'as_of_date']) }} as customer_offer_id,
        as_of_date,
        customer_id,
        offer_name,
        offer_detail,
        reason,
        coalesce(passed_over_in_cooldown, {{ string_array([]) }}) as passed_over_in_cooldown
    from ranked
    where not is_in_cooldown
        and rank_among_available = 1
)

select * from final
