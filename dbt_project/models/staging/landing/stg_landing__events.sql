-- Incremental: reads only the raw rows that can change the table (macros/incremental_facts.sql).
{%- set event_id_expression = 'trim(event_id)' %}
{% set build = staged_fact('event_id', ['occurred_at']) %}

with

events as {{ inlined_cte(build) }} (
    select * from {{ source('landing', 'events') }}
    where {{ is_before_cutoff('occurred_at') }}
    {{ fact_delta_filter(build, {'occurred_at': 'occurred_at'}) }}
),

new_versions as (
    select
        {{ event_id_expression }} as event_id,
        nullif(trim(anonymous_id), '') as anonymous_id,
        {{ clean_enum('source_system') }} as source_system,
        nullif(trim(source_customer_id), '') as source_customer_id,
        nullif(trim(session_id), '') as session_id,
        nullif(trim(product_id), '') as product_id,
        {{ clean_enum('event_type') }} as event_type,
        nullif(trim(page_url), '') as page_url,
        nullif(trim(referrer), '') as referrer,
        {{ clean_enum('device_type') }} as device_type,
        {{ json_extract_string('properties', 'query') }} as search_query,
        {{ clean_enum(json_extract_string('properties', 'category')) }} as product_category,
        {{ clean_enum(json_extract_string('properties', 'method')) }} as login_method,
        properties,
        {{ dbt.safe_cast(json_extract_string('properties', 'quantity'), dbt.type_bigint()) }} as quantity,
        cast({{ to_utc_timestamp('occurred_at') }} as date) as occurred_date,
        {{ to_utc_timestamp('occurred_at') }} as occurred_at,
        _load_id,
        _record_number,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from events
),

candidates as (
    {{ fact_candidates(build, 'new_versions', ['event_id']) }}
),

-- a full build's raw rows by key and load order: latest_version numbers only the versions of
-- the keys that have more than one (macros/latest_version.sql)
raw_versions as (
    select
        {{ event_id_expression }} as event_id,
        _load_id,
        _record_number
    from events
),

deduplicated as (
    {{ latest_version('candidates', ['event_id'], versions='raw_versions' if build['mode'] != 'delta' else none) }}
),

final as (
    select
        event_id,
        anonymous_id,
        source_system,
        source_customer_id,
        session_id,
        product_id,
        event_type,
        page_url,
        referrer,
        device_type,
        search_query,
        product_category,
        login_method,
        properties,
        quantity,
        occurred_date,
        occurred_at,
        _load_id,
        _record_number,
        _loaded_at
    from deduplicated
    -- events of a suppressed record or device (anonymous_id) are left out
    {{ anti_join_suppressed('source_record', source_record_key('deduplicated.source_system', 'deduplicated.source_customer_id')) }}
    {{ anti_join_suppressed('anonymous_id', 'deduplicated.anonymous_id') }}
)

select * from final
