{%- set offers = offer_definitions() if execute else [] -%}

-- The declared offers (models/personalisation/offers.yml) as rows, in priority order.
with

final as (
    {%- for offer in offers %}
    select
        '{{ offer.name }}' as offer_name,
        {{ rule_literal(offer.description | trim) }} as offer_description,
        {{ rule_literal(offer.owner) }} as offer_owner,
        {{ offer.priority }} as priority,
        {{ loop.index }} as priority_rank,
        {{ offer.get('cooldown_days', 0) }} as cooldown_days,
        {{ rule_literal(tojson(offer.rule)) }} as offer_rule,
        {{ rule_literal(tojson(offer.exclude)) if 'exclude' in offer else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as offer_exclude,
        {{ rule_literal(offer.detail) if 'detail' in offer else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as detail_field
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as offer_name,
        cast(null as {{ dbt.type_string() }}) as offer_description,
        cast(null as {{ dbt.type_string() }}) as offer_owner,
        cast(null as integer) as priority,
        cast(null as integer) as priority_rank,
        cast(null as integer) as cooldown_days,
        cast(null as {{ dbt.type_string() }}) as offer_rule,
        cast(null as {{ dbt.type_string() }}) as offer_exclude,
        cast(null as {{ dbt.type_string() }}) as detail_field
    where false
    {%- endfor %}
)

select * from final
