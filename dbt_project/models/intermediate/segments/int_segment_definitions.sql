{%- set segments = segment_definitions() if execute else [] -%}

-- The declared segments (models/personalisation/segments.yml) as rows, for sizes, reports and joins.
with

final as (
    {%- for segment in segments %}
    select
        '{{ segment.name }}' as segment_name,
        {{ rule_literal(segment.description | trim) }} as segment_description,
        {{ rule_literal(segment.owner) }} as segment_owner,
        '{{ segment.get('type', 'dynamic') }}' as segment_type,
        {{ rule_literal(tojson(segment.rule)) if 'rule' in segment else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as segment_rule,
        {{ rule_literal(segment.list | lower) if 'list' in segment else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as segment_list_name
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as segment_name,
        cast(null as {{ dbt.type_string() }}) as segment_description,
        cast(null as {{ dbt.type_string() }}) as segment_owner,
        cast(null as {{ dbt.type_string() }}) as segment_type,
        cast(null as {{ dbt.type_string() }}) as segment_rule,
        cast(null as {{ dbt.type_string() }}) as segment_list_name
    where false
    {%- endfor %}
)

select * from final
