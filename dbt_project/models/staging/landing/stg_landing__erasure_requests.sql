with

erasure_requests as (
    select * from {{ source('landing', 'erasure_requests') }}
),

junk_values as (
    select * from {{ ref('junk_values') }}
),

-- every request received, whatever the run's as-of date: a request binds every run made
-- after it arrives, including runs that look at the past (docs/privacy.md)
keyed as (
    select
        trim(request_id) as erasure_request_id,
        email,
        phone,
        source_system,
        nullif(trim(source_customer_id), '') as source_customer_id,
        requested_at,
        _load_id,
        _record_number,
        _loaded_at
    from erasure_requests
),

deduplicated as (
    {{ latest_version('keyed', ['erasure_request_id']) }}
),

-- a request carries no country: its phone is read with the default country
phone_parts as (
    {{ phone_parts_in_default_country('deduplicated', 'deduplicated.phone') }}
),

final as (
    select
        erasure_request_id,
        {{ clean_enum('source_system') }} as source_system,
        source_customer_id,
        {{ mask_personal(normalise_email('email'), 'email') }} as email,
        {{ mask_personal(phone_to_e164(
            'phone_digits', 'phone_has_plus', 'calling_code', 'trunk_prefix', 'international_prefix',
            'min_national_number_length', 'max_national_number_length'
        ), 'phone') }} as phone,
        cast({{ to_utc_timestamp('requested_at') }} as date) as requested_date,
        {{ to_utc_timestamp('requested_at') }} as requested_at,
        _load_id,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from phone_parts
)

select * from final
