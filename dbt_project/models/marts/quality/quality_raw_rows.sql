{{ config(materialized='ephemeral') }}

{#-
    Every raw row of the scored sources, reduced to what the scorecard counts: its load,
    its source system (for sources scored per system), when it became true (UTC: the
    latest of its time columns; for rows without a time of their own, the parent's named
    by `time_from` - an order line exists from its order; null when nothing says), a
    hash of key and time columns (two rows with one hash say the same thing twice) and
    whether an earlier row has that hash (all copies of a hash share their time, so the
    first copy exists as of any date a later one does). Kept sources come from
    int_quality_raw_row_versions; the others are hashed here.
-#}
{%- set sources = var('data_quality')['sources'] -%}
{%- set kept = quality_sources_kept() -%}
{#- by name: a table kept from before record_number existed has its new columns last -#}
{%- set columns = ['landing_source', 'load_id', 'source_system', 'version_at', 'parent_key',
    'row_version_key', 'repeats_earlier_copy'] -%}

with

row_versions as (
    select * from {{ ref('int_quality_raw_row_versions') }}
),

{% for source_name, settings in sources.items() if source_name not in kept %}
{{ source_name }}_hashed as (
    select {{ quality_row_version_columns(source_name, settings, 'rows') }}
    from {{ source('landing', source_name) }} as rows
),

{{ source_name }}_rows as (
    select
        *,
        row_number() over (partition by row_version_key order by load_id, record_number) > 1
            as repeats_earlier_copy
    from {{ source_name }}_hashed
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
    select {{ columns | join(', ') }} from row_versions
    {% for source_name in sources if source_name not in kept %}
    union all
    select {{ columns | join(', ') }} from {{ source_name }}_rows
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
        all_rows.row_version_key,
        all_rows.repeats_earlier_copy
    from all_rows
    {%- for source_name, settings in sources.items() if settings.get('time_from') %}
    left join {{ source_name }}_parent_times
        on all_rows.landing_source = '{{ source_name }}'
        and {{ source_name }}_parent_times.parent_key = all_rows.parent_key
    {%- endfor %}
)

select * from final
