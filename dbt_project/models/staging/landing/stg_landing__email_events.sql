with

email_events as (
    select * from {{ source('landing', 'email_events') }}
),

junk_values as (
    select * from {{ ref('junk_values') }}
),

as_of_versions as (
    select
        trim(event_id) as email_event_id,
        event_type,
        occurred_at,
        email,
        campaign_id,
        source_system,
        _load_id,
        _record_number,
        _loaded_at
    from email_events
    where {{ is_before_cutoff('occurred_at') }}
),

deduplicated as (
    {{ latest_version('as_of_versions', ['email_event_id']) }}
),

normalised as (
    select
        email_event_id,
        nullif(trim(campaign_id), '') as campaign_id,
        {{ clean_enum('source_system') }} as source_system,
        email as email_as_sent,
        {{ normalise_email('email') }} as email,
        {{ clean_enum('event_type') }} as event_type,
        occurred_at,
        _load_id,
        _loaded_at
    from deduplicated
),

final as (
    select
        email_event_id,
        campaign_id,
        source_system,
        email,
        event_type,
        {{ is_valid('email_as_sent', 'email') }} as is_valid_email,
        cast({{ to_utc_timestamp('occurred_at') }} as date) as occurred_date,
        {{ to_utc_timestamp('occurred_at') }} as occurred_at,
        _load_id,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from normalised
    -- events of a suppressed address are left out
    {{ anti_join_suppressed_email('normalised.email') }}
)

select * from final
