-- Incremental: reads only the raw rows that can change the table (macros/incremental_facts.sql);
-- a change's new versions are normalised, then weighed against the version the table holds.
{% set build = staged_fact('consent_event_id', ['occurred_at']) %}

with

consent as (
    select * from {{ source('landing', 'consent') }}
),

junk_values as (
    select * from {{ ref('junk_values') }}
),

as_of_versions as (
    select
        lower(trim(source_system)) as source_system,
        trim(consent_id) as source_consent_id,
        nullif(trim(source_customer_id), '') as source_customer_id,
        email,
        purpose,
        status,
        occurred_at,
        _load_id,
        _record_number,
        _loaded_at
    from consent
    where {{ is_before_cutoff('occurred_at') }}
        {{ fact_delta_filter(build, {'occurred_at': 'occurred_at'}) }}
),

deduplicated as (
    {{ latest_version('as_of_versions', ['source_system', 'source_consent_id']) }}
),

normalised as (
    select
        {{ surrogate_key(['source_system', 'source_consent_id']) }} as consent_event_id,
        source_system,
        source_consent_id,
        source_customer_id,
        {{ normalise_email('email') }} as email,
        {{ clean_enum('purpose') }} as purpose,
        {{ clean_enum('status') }} as consent_status,
        cast({{ to_utc_timestamp('occurred_at') }} as date) as occurred_date,
        {{ to_utc_timestamp('occurred_at') }} as occurred_at,
        _load_id,
        _record_number,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from deduplicated
),

-- changes keyed by a suppressed record or e-mail are left out
new_changes as (
    select
        normalised.consent_event_id,
        normalised.source_system,
        normalised.source_consent_id,
        normalised.source_customer_id,
        {{ mask_personal('normalised.email', 'email') }} as email,
        normalised.purpose,
        normalised.consent_status,
        normalised.occurred_date,
        normalised.occurred_at,
        normalised._load_id,
        normalised._record_number,
        normalised._loaded_at
    from normalised
    {{ anti_join_suppressed('source_record', source_record_key('normalised.source_system', 'normalised.source_customer_id')) }}
    {{ anti_join_suppressed_email('normalised.email') }}
),

candidates as (
    {{ fact_candidates(build, 'new_changes', ['consent_event_id']) }}
),

latest as (
    {{ latest_version('candidates', ['consent_event_id']) }}
)

select
    consent_event_id,
    source_system,
    source_consent_id,
    source_customer_id,
    email,
    purpose,
    consent_status,
    occurred_date,
    occurred_at,
    _load_id,
    _record_number,
    _loaded_at
from latest
