{{ config(materialized='ephemeral') }}

{#-
    Every raw row of the scored sources, reduced to what the scorecard counts: its load,
    its source system (for sources scored per system), when it became true (UTC: the
    latest of its time columns; for rows without a time of their own, the parent's named
    by `time_from` - an order line exists from its order; null when nothing says) and a
    hash of key and time columns (two rows with one hash say the same thing twice).
    Kept sources come from int_quality_raw_row_versions; the others are hashed here.
-#}
{%- set sources = var('data_quality')['sources'] -%}
{%- set kept = quality_sources_kept() -%}

with

row_versions as (
    select * from {{ ref('int_quality_raw_row_versions') }}
),

{% for source_name, settings in sources.items() if source_name not in kept %}
{{ source_name }}_rows as (
    select {{ quality_row_version_columns(source_name, settings, 'rows') }}
    from {{ source('landing', source_name) }} as rows
),

{% endfor %}
{% for source_name, settings in sources.items() if settings.get('time_from') %}
{%- set time_from = settings['time_from'] %}
{{ source_name }}_parent_times as (
    select
        {{ quality_parent_key(time_from['key'], 'parents') }} as parent_key,
        min({{ to_utc_timestamp('parents.' ~ time_from['time_column']) }}) as parent_at
    from {{ source('landing', time_from['source']) }} as parents
    group by 1
),

{% endfor %}
all_rows as (
    select * from row_versions
    {% for source_name in sources if source_name not in kept %}
    union all
    select * from {{ source_name }}_rows
    {% endfor %}
),

final as (
    select
        all_rows.landing_source,
        all_rows.load_id,
        all_rows.source_system,
        {%- set ns = namespace(version_at='all_rows.version_at') %}
        {%- for source_name, settings in sources.items() if settings.get('time_from') %}
        {%- set ns.version_at = 'case when all_rows.landing_source = \'' ~ source_name ~ '\' then '
            ~ source_name ~ '_parent_times.parent_at else ' ~ ns.version_at ~ ' end' %}
        {%- endfor %}
        {{ ns.version_at }} as version_at,
        all_rows.row_version_key
    from all_rows
    {%- for source_name, settings in sources.items() if settings.get('time_from') %}
    left join {{ source_name }}_parent_times
        on all_rows.landing_source = '{{ source_name }}'
        and {{ source_name }}_parent_times.parent_key = all_rows.parent_key
    {%- endfor %}
)

select * from final
