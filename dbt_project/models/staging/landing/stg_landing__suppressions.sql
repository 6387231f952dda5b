-- Uploaded suppressions as the hashes the suppression list holds: one row per raw row,
-- so the erasure step can replace each plain value in raw by its hash. No plain value
-- leaves this model. Suppressions are not point in time: every upload counts.
with

suppressions as (
    select * from {{ source('landing', 'suppressions') }}
),

junk_values as (
    select * from {{ ref('junk_values') }}
),

keyed as (
    select
        {{ clean_enum('identifier_type') }} as identifier_type,
        trim(identifier) as identifier,
        coalesce({{ clean_enum('reason') }}, 'manual') as reason,
        added_at,
        _load_id,
        _record_number,
        _loaded_at
    from suppressions
),

-- a suppression carries no country: a phone is read with the default country
phone_parts as (
    {{ phone_parts_in_default_country('keyed', 'keyed.identifier') }}
),

normalised as (
    select
        identifier_type,
        {{ regexp_full_match('lower(identifier)', '[0-9a-f]{64}') }} as is_uploaded_as_hash,
        case identifier_type
            when 'email' then {{ normalise_email('identifier') }}
            when 'phone' then {{ phone_to_e164(
                'phone_digits', 'phone_has_plus', 'calling_code', 'trunk_prefix', 'international_prefix',
                'min_national_number_length', 'max_national_number_length'
            ) }}
        end as identifier_value,
        lower(identifier) as identifier_lower,
        reason,
        added_at,
        _load_id,
        _record_number,
        _loaded_at
    from phone_parts
),

final as (
    select
        {{ surrogate_key(['_load_id', '_record_number']) }} as suppression_entry_id,
        identifier_type,
        reason,
        case
            when is_uploaded_as_hash then identifier_lower
            else {{ identifier_sha256('identifier_value') }}
        end as identifier_sha256,
        -- another spelling of the same Gmail mailbox (identity's match key) is suppressed too
        case
            when identifier_type = 'email' and not is_uploaded_as_hash
                then {{ identifier_sha256(email_match_key('identifier_value')) }}
        end as email_match_key_sha256,
        is_uploaded_as_hash,
        {{ to_utc_timestamp('added_at') }} as added_at,
        _load_id,
        _record_number,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from normalised
)

select * from final
