-- Incremental: reads only the raw rows that can change the table (macros/incremental_facts.sql).
{%- set email_event_id_expression = 'trim(event_id)' %}
{% set build = staged_fact('email_event_id', ['occurred_at']) %}

with

email_events as {{ inlined_cte(build) }} (
    select * from {{ source('landing', 'email_events') }}
    where {{ is_before_cutoff('occurred_at') }}
    {{ fact_delta_filter(build, {'occurred_at': 'occurred_at'}) }}
),

junk_values as (
    select * from {{ ref('junk_values') }}
),

-- the address normalised once: the validity flag reads it rather than normalising again
normalised as (
    select
        *,
        {{ normalise_email('email') }} as normalised_email
    from email_events
),

new_versions as (
    select
        {{ email_event_id_expression }} as email_event_id,
        nullif(trim(campaign_id), '') as campaign_id,
        {{ clean_enum('source_system') }} as source_system,
        normalised_email as email,
        {{ clean_enum('event_type') }} as event_type,
        {{ is_valid('email', 'normalised_email') }} as is_valid_email,
        cast({{ to_utc_timestamp('occurred_at') }} as date) as occurred_date,
        {{ to_utc_timestamp('occurred_at') }} as occurred_at,
        _load_id,
        _record_number,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from normalised
),

candidates as (
    {{ fact_candidates(build, 'new_versions', ['email_event_id']) }}
),

-- a full build's raw rows by key and load order: latest_version numbers only the versions of
-- the keys that have more than one (macros/latest_version.sql)
raw_versions as (
    select
        {{ email_event_id_expression }} as email_event_id,
        _load_id,
        _record_number
    from email_events
),

deduplicated as (
    {{ latest_version('candidates', ['email_event_id'], versions='raw_versions' if build['mode'] != 'delta' else none) }}
),

final as (
    select
        email_event_id,
        campaign_id,
        source_system,
        {{ mask_personal('email', 'email') }} as email,
        event_type,
        is_valid_email,
        occurred_date,
        occurred_at,
        _load_id,
        _record_number,
        _loaded_at
    from deduplicated
    -- events of a suppressed address are left out
    {{ anti_join_suppressed_email('deduplicated.email') }}
)

select * from final
