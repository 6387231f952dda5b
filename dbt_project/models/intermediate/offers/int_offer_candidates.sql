{%- set offers = offer_definitions() if execute else [] -%}
{%- set segments_by_name = {} -%}
{%- for segment in (segment_definitions() if execute else []) -%}
    {%- do segments_by_name.update({segment.name: segment}) -%}
{%- endfor -%}
{%- set referenced = [] -%}
{%- for offer in offers -%}
    {%- for name in condition_segments(offer.rule) + condition_segments(offer.get('exclude')) if name not in referenced -%}
        {%- do referenced.append(name) -%}
    {%- endfor -%}
{%- endfor -%}

-- Every offer each customer qualifies for as of the run's date (rule holds), whether
-- an exclusion stops it, and why it applies: the values of the fields its rule reads
-- (through the segments it refers to as well).
with

profile as (
    select * from {{ ref('int_customer_profile') }}
),

segment_members as (
    select * from {{ ref('int_segment_members') }}
),
{% for name in referenced %}
segment_members__{{ name }} as (
    select customer_id from segment_members where segment_name = '{{ name }}'
),
{% endfor %}
final as (
    {%- for offer in offers %}
    select
        profile.customer_id,
        '{{ offer.name }}' as offer_name,
        {{ loop.index }} as priority_rank,
        {% if 'exclude' in offer -%}
        coalesce({{ compile_condition(offer.exclude) }}, false)
        {%- else -%}
        false
        {%- endif %} as is_excluded,
        {{ 'cast(profile.' ~ offer.detail ~ ' as ' ~ dbt.type_string() ~ ')' if 'detail' in offer else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as offer_detail,
        {{ rule_literal(offer.description | trim) }}
        {%- set fields = condition_fields(offer.rule, segments_by_name) -%}
        {%- if fields %} || ' (' || concat_ws(', '
            {%- for field in fields %}, '{{ field }}=' || coalesce(cast(profile.{{ field }} as {{ dbt.type_string() }}), 'null'){% endfor -%}
        ) || ')'{% endif %} as reason
    from profile
    where coalesce({{ compile_condition(offer.rule) }}, false)
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as offer_name,
        cast(null as integer) as priority_rank,
        cast(null as boolean) as is_excluded,
        cast(null as {{ dbt.type_string() }}) as offer_detail,
        cast(null as {{ dbt.type_string() }}) as reason
    where false
    {%- endfor %}
)

select
    *,
    {{ as_of_date() }} as as_of_date
from final
