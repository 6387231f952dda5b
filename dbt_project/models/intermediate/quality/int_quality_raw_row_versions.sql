{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_changed_quality_loads() }}",
) }}

{#-
    Every raw row of the scored sources reduced to what the scorecard counts (its load,
    source system, own time and the hash of its key and time columns), kept between runs
    so that a daily build hashes only the new loads' rows: hashing all of raw took most of
    the scorecard's time. A load whose row count in raw changed since (an erasure deleted
    rows) is hashed again (the pre-hook drops it); sources whose key an erasure rewrites in
    place (key_rewritten_in_place) are not kept here but hashed afresh every run
    (quality_raw_rows). For rows without a time of their own, parent_key names the row
    whose time they take (time_from); the time itself is looked up at each run, since the
    parent may arrive later. No values: counts and hashes only. On Spark (Parquet tables
    allow no delete) it is a table built in full, as the incremental facts are (docs/spark.md).
-#}
{%- set sources = quality_sources_kept() %}

with

{% for source_name, settings in sources.items() %}
{{ source_name }}_rows as (
    select {{ quality_row_version_columns(source_name, settings, 'rows') }}
    from {{ source('landing', source_name) }} as rows
    {%- if is_incremental() %}
    where rows._load_id not in (
        select distinct load_id from {{ this }} where landing_source = '{{ source_name }}'
    )
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
