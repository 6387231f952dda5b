{#- Data quality scorecard helpers (models/marts/quality/, docs/data_quality.md). -#}

{#- The scored sources whose row hashes int_quality_raw_row_versions keeps between runs. -#}
{% macro quality_sources_kept() -%}
    {%- set kept = {} -%}
    {%- for source_name, settings in var('data_quality')['sources'].items()
        if not settings.get('key_rewritten_in_place') -%}
        {%- do kept.update({source_name: settings}) -%}
    {%- endfor -%}
    {{- return(kept) -}}
{%- endmacro %}


{#- The key of a time_from parent as one text value (trimmed columns, '|' between; null
    when a column is null, which then matches no parent, as a join on the columns would). -#}
{% macro quality_parent_key(columns, alias) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("trim(" ~ alias ~ "." ~ column ~ ")") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}


{#- One raw row as the scorecard counts it: landing_source, load_id, record_number (the
    raw row's place in its load: what an erasure deletes it by), source_system, version_at
    (the latest of its own time columns, UTC), parent_key (time_from sources) and
    row_version_key (hash of key and time columns). -#}
{% macro quality_row_version_columns(source_name, settings, alias) -%}
    {%- set ns = namespace(version_at='cast(null as ' ~ dbt.type_timestamp() ~ ')') -%}
    {%- for column in settings['time_columns'] -%}
        {%- set utc = to_utc_timestamp(alias ~ '.' ~ column) -%}
        {%- if loop.first -%}
            {%- set ns.version_at = utc -%}
        {%- else -%}
            {%- set ns.version_at = 'case when ' ~ utc ~ ' is null or ' ~ utc ~ ' < ' ~ ns.version_at
                ~ ' then ' ~ ns.version_at ~ ' else ' ~ utc ~ ' end' -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set version_parts = [] -%}
    {%- for column in settings['key'] -%}
        {%- do version_parts.append('trim(' ~ alias ~ '.' ~ column ~ ')') -%}
    {%- endfor -%}
    {#- times as UTC timestamps: a time zone's text differs between engines, the instant does not -#}
    {%- for column in settings['time_columns'] -%}
        {%- do version_parts.append(to_utc_timestamp(alias ~ '.' ~ column)) -%}
    {%- endfor %}
        '{{ source_name }}' as landing_source,
        {{ alias }}._load_id as load_id,
        {{ alias }}._record_number as record_number,
        {% if settings.get('source_systems') -%}
        coalesce(lower(trim({{ alias }}.source_system)), 'unknown')
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as source_system,
        {{ ns.version_at }} as version_at,
        {% if settings.get('time_from') -%}
        {{ quality_parent_key(settings['time_from']['key'], alias) }}
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as parent_key,
        {{ row_digest(version_parts) }} as row_version_key
{%- endmacro %}


{#- pre_hook of int_quality_raw_row_versions: a table kept with row hashes of another type
    (text, from before they were numbers on DuckDB) is emptied and takes the type, so the
    build hashes every load again: hashes of both forms would never match. -#}
{% macro rehash_row_versions_of_another_type() -%}
    {%- set held = [] -%}
    {%- if execute and this is not none and is_incremental() -%}
        {%- set held = adapter.get_columns_in_relation(this) | selectattr('name', 'equalto', 'row_version_key') | list -%}
    {%- endif -%}
    {%- if held and held[0].data_type | upper != row_digest_type() | upper -%}
    delete from {{ this }};
    alter table {{ this }} alter column row_version_key set data type {{ row_digest_type() }}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#- pre_hook of int_quality_raw_row_versions: drop the loads whose row count in raw is no
    longer the one held (an erasure deleted rows, or the load is gone), so the build hashes
    them again. -#}
{% macro delete_changed_quality_loads() -%}
    {%- if execute and this is not none and is_incremental() -%}
    delete from {{ this }}
    where (landing_source, load_id) in (
        with held as (
            select landing_source, load_id, count(*) as row_count
            from {{ this }}
            group by landing_source, load_id
        ),

        in_raw as (
            {%- for source_name in quality_sources_kept() %}
            select '{{ source_name }}' as landing_source, _load_id as load_id, count(*) as row_count
            from {{ source('landing', source_name) }}
            group by _load_id
            {% if not loop.last %}union all{% endif %}
            {%- endfor %}
        )

        select held.landing_source, held.load_id
        from held
        left join in_raw
            on in_raw.landing_source = held.landing_source
            and in_raw.load_id = held.load_id
        where in_raw.row_count is distinct from held.row_count
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}


{#- post_hook of int_quality_raw_row_versions: number the copies of every hash that has a
    marked copy (or a copy with no mark at all, in a table built before the mark existed)
    again, by load and record number, so exactly the first copy of each hash is unmarked. A
    marked copy may have lost its first (an erasure deleted it, or its load was hashed again
    and came back marked). It reads the marks and hashes of the whole table but numbers only
    the hashes with a marked copy. rowid: rows from before record_number was kept have none
    to tell copies apart by. -#}
{% macro renumber_repeated_row_versions() -%}
    {%- if execute and this is not none and is_incremental() -%}
    update {{ this }} as versions
    set repeats_earlier_copy = copies.copy_number > 1
    from (
        select
            rowid as row_id,
            row_number() over (
                partition by landing_source, row_version_key order by load_id, record_number
            ) as copy_number
        from {{ this }}
        where (landing_source, row_version_key) in (
            select landing_source, row_version_key
            from {{ this }}
            where repeats_earlier_copy is not false
        )
    ) as copies
    where versions.rowid = copies.row_id
        and versions.repeats_earlier_copy is distinct from (copies.copy_number > 1)
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
