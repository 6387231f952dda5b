{{ config(materialized='ephemeral') }}

{#-
    Every raw row of the sources in var data_quality, reduced to what the scorecard
    counts: its load, its source system (for sources scored per system), when it became
    true (UTC: the latest of its time columns; for rows without a time of their own, the
    parent's named by `time_from` - an order line exists from its order; null when
    nothing says) and a hash of key and time columns (two rows with one hash say the
    same thing twice).
-#}
{%- set sources = var('data_quality')['sources'] -%}

with

{% for source_name, settings in sources.items() %}
{%- set time_from = settings.get('time_from') -%}
{%- set ns = namespace(version_at='cast(null as ' ~ dbt.type_timestamp() ~ ')') -%}
{%- for column in settings['time_columns'] -%}
    {%- set utc = to_utc_timestamp('rows.' ~ column) -%}
    {%- if loop.first -%}
        {%- set ns.version_at = utc -%}
    {%- else -%}
        {%- set ns.version_at = 'case when ' ~ utc ~ ' is null or ' ~ utc ~ ' < ' ~ ns.version_at
            ~ ' then ' ~ ns.version_at ~ ' else ' ~ utc ~ ' end' -%}
    {%- endif -%}
{%- endfor -%}
{%- if time_from -%}
    {%- set ns.version_at = source_name ~ '_parent_times.parent_at' -%}
{%- endif -%}
{%- set version_parts = [] -%}
{%- for column in settings['key'] -%}
    {%- do version_parts.append('trim(rows.' ~ column ~ ')') -%}
{%- endfor -%}
{%- for column in settings['time_columns'] -%}
    {%- do version_parts.append('rows.' ~ column) -%}
{%- endfor %}
{%- if time_from %}
{{ source_name }}_parent_times as (
    select
        {%- for column in time_from['key'] %}
        trim({{ column }}) as {{ column }},
        {%- endfor %}
        min({{ to_utc_timestamp(time_from['time_column']) }}) as parent_at
    from {{ source('landing', time_from['source']) }}
    group by {% for column in time_from['key'] %}trim({{ column }}){% if not loop.last %}, {% endif %}{% endfor %}
),
{% endif %}
{{ source_name }}_rows as (
    select
        '{{ source_name }}' as landing_source,
        rows._load_id as load_id,
        {% if settings.get('source_systems') -%}
        coalesce(lower(trim(rows.source_system)), 'unknown')
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as source_system,
        {{ ns.version_at }} as version_at,
        {{ surrogate_key(version_parts) }} as row_version_key
    from {{ source('landing', source_name) }} as rows
    {%- if time_from %}
    left join {{ source_name }}_parent_times
        on
        {%- for column in time_from['key'] %}
        {% if not loop.first %}and {% endif %}{{ source_name }}_parent_times.{{ column }} = trim(rows.{{ column }})
        {%- endfor %}
    {%- endif %}
),

{% endfor %}
final as (
    {% for source_name in sources %}
    select * from {{ source_name }}_rows
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
