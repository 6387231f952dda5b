{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=["{{ rehash_row_versions_of_another_type() }}", "{{ delete_changed_quality_loads() }}"],
    post_hook="{{ renumber_repeated_row_versions() }}",
) }}

{#-
    Every raw row of the scored sources reduced to what the scorecard counts (its load, its
    place in the load, source system, own time and the hash of its key and time columns),
    kept between runs so that a daily build hashes only the new loads' rows: hashing all of
    raw took most of the scorecard's time. An erasure deletes the rows of the raw rows it
    deletes (by load and record number, cdp/privacy); a load whose row count in raw changed
    otherwise (or that is gone) is hashed again (the pre-hook drops it). Sources whose key an
    erasure rewrites in place (key_rewritten_in_place) are not kept here but hashed afresh
    every run (quality_raw_rows). For rows without a time of their own, parent_key names the
    row whose time they take (time_from); the time itself is looked up at each run, since the
    parent may arrive later. The hash is row_digest's (macros/surrogate_key.sql): a 128-bit
    number on DuckDB, md5 text on Spark; a table kept with another type is hashed again
    (rehash_row_versions_of_another_type).

    repeats_earlier_copy marks every copy of a key and time but the first (by load and record
    number), so the scorecard counts distinct rows without grouping the history: a new row is
    marked when the table holds its hash or an earlier new row has it, and the post-hook numbers
    again the copies of every hash that has a marked copy (an erasure or a load hashed again may
    have removed or re-added the first). No values: counts and hashes only. On Spark (Parquet
    tables allow no delete) it is a table built in full, as the incremental facts are
    (docs/spark.md).
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
new_rows as (
    {% for source_name in sources %}
    select * from {{ source_name }}_rows
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- the copies after the first of every hash the new rows repeat among themselves. Grouping a
-- 64-bit digest of the hash first is far cheaper than numbering (or grouping) the 128-bit
-- hashes (32 characters on Spark) of all the rows, which took most of a full build; the copies are then
-- numbered within the few repeated digests only (a digest collision just adds candidates)
repeated_digests as (
    select landing_source, hash(row_version_key) as digest
    from new_rows
    group by landing_source, hash(row_version_key)
    having count(*) > 1
),

later_copies as (
    select landing_source, load_id, record_number
    from (
        select
            new_rows.landing_source,
            new_rows.load_id,
            new_rows.record_number,
            row_number() over (
                partition by new_rows.landing_source, new_rows.row_version_key
                order by new_rows.load_id, new_rows.record_number
            ) as copy_number
        from new_rows
        inner join repeated_digests
            on repeated_digests.landing_source = new_rows.landing_source
            and repeated_digests.digest = hash(new_rows.row_version_key)
    ) as candidates
    where copy_number > 1
),

{% if is_incremental() %}
-- the new rows' hashes the table holds already: joined, not `in`, so the hash table is built
-- on the new rows and the history is only scanned
held_hashes as (
    select distinct held.landing_source, held.row_version_key
    from {{ this }} as held
    inner join (select distinct landing_source, row_version_key from new_rows) as fresh
        on fresh.landing_source = held.landing_source
        and fresh.row_version_key = held.row_version_key
),
{% endif %}

final as (
    select
        new_rows.landing_source,
        new_rows.load_id,
        new_rows.record_number,
        new_rows.source_system,
        new_rows.version_at,
        new_rows.parent_key,
        new_rows.row_version_key,
        later_copies.load_id is not null
        {%- if is_incremental() %}
            or held_hashes.row_version_key is not null
        {%- endif %} as repeats_earlier_copy
    from new_rows
    left join later_copies
        on later_copies.landing_source = new_rows.landing_source
        and later_copies.load_id = new_rows.load_id
        and later_copies.record_number = new_rows.record_number
    {%- if is_incremental() %}
    left join held_hashes
        on held_hashes.landing_source = new_rows.landing_source
        and held_hashes.row_version_key = new_rows.row_version_key
    {%- endif %}
)

select * from final
