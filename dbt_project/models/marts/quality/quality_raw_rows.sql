{{ config(materialized='ephemeral') }}

{#-
    Every raw row of the sources in var data_quality, reduced to what the scorecard
    counts: its load, its source system (for sources scored per system), when it became
    true (the latest of its time columns, UTC; null when it says nothing) and a hash of
    key and time columns (two rows with one hash say the same thing twice).
-#}
{%- set sources = var('data_quality')['sources'] -%}

with

{% for source_name, settings in sources.items() %}
{%- set ns = namespace(version_at='cast(null as ' ~ dbt.type_timestamp() ~ ')') -%}
{%- for column in settings['time_columns'] -%}
    {%- set utc = to_utc_timestamp(column) -%}
    {%- if loop.first -%}
        {%- set ns.version_at = utc -%}
    {%- else -%}
        {%- set ns.version_at = 'case when ' ~ utc ~ ' is null or ' ~ utc ~ ' < ' ~ ns.version_at
            ~ ' then ' ~ ns.version_at ~ ' else ' ~ utc ~ ' end' -%}
    {%- endif -%}
{%- endfor -%}
{%- set key_parts = [] -%}
{%- for column in settings['key'] -%}
    {%- do key_parts.append('trim(' ~ column ~ ')') -%}
{%- endfor %}
{{ source_name }}_rows as (
    select
        '{{ source_name }}' as landing_source,
        _load_id as load_id,
        {% if settings.get('source_systems') -%}
        coalesce(lower(trim(source_system)), 'unknown')
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as source_system,
        {{ ns.version_at }} as version_at,
        {{ surrogate_key(key_parts + settings['time_columns']) }} as row_version_key
    from {{ source('landing', source_name) }}
),

{% endfor %}
final as (
    {% for source_name in sources %}
    select * from {{ source_name }}_rows
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
