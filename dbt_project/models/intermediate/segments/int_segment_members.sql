{#- Segments from models/personalisation/segments.yml,
    compiled in dependency order: each segment is a CTE later rules may refer to. -#}
{%- set segments = segment_definitions() if execute else [] -%}

-- Who is in each declared segment as of the run's date.
with

profile as (
    select * from {{ ref('int_customer_profile') }}
),

list_members as (
    select * from {{ ref('int_segment_list_entries_identified') }}
    where customer_id is not null
),
{% for segment in segments %}
-- {{ segment.name }}: {{ segment.description | replace('\n', ' ') }}
segment_members__{{ segment.name }} as (
    {%- if segment.get('type', 'dynamic') == 'static' %}
    select distinct profile.customer_id
    from profile
    inner join list_members
        on list_members.customer_id = profile.customer_id
    where list_members.list_name = {{ rule_literal(segment.list | lower) }}
    {%- else %}
    select profile.customer_id
    from profile
    where coalesce({{ compile_condition(segment.rule) }}, false)
    {%- endif %}
),
{% endfor %}
final as (
    {%- for segment in segments %}
    select
        customer_id,
        '{{ segment.name }}' as segment_name
    from segment_members__{{ segment.name }}
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_string() }}) as segment_name
    where false
    {%- endfor %}
)

select
    customer_id,
    segment_name,
    {{ as_of_date() }} as as_of_date
from final
