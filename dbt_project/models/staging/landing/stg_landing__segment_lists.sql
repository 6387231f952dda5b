with

segment_lists as (
    select * from {{ source('landing', 'segment_lists') }}
),

junk_values as (
    select * from {{ ref('junk_values') }}
),

as_of_versions as (
    select
        lower(trim(list_name)) as list_name,
        {{ clean_enum('identifier_type') }} as identifier_type,
        trim(identifier) as identifier,
        added_at,
        _load_id,
        _record_number,
        _loaded_at
    from segment_lists
    where {{ is_before_cutoff('added_at', keep_nulls=true) }}
),

deduplicated as (
    {{ latest_version('as_of_versions', ['list_name', 'identifier_type', 'identifier']) }}
),

-- a list carries no country: a phone is read with the default country
phone_parts as (
    {{ phone_parts_in_default_country('deduplicated', 'deduplicated.identifier') }}
),

normalised as (
    select
        {{ surrogate_key(['list_name', 'identifier_type', 'identifier']) }} as segment_list_entry_id,
        list_name,
        identifier_type,
        identifier,
        case identifier_type
            when 'email' then {{ normalise_email('identifier') }}
            when 'phone' then {{ phone_to_e164(
                'phone_digits', 'phone_has_plus', 'calling_code', 'trunk_prefix', 'international_prefix',
                'min_national_number_length', 'max_national_number_length'
            ) }}
            when 'loyalty_id' then {{ normalise_loyalty_id('identifier') }}
            else identifier
        end as identifier_value,
        {{ to_utc_timestamp('added_at') }} as added_at,
        _load_id,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from phone_parts
),

-- an entry naming a suppressed e-mail, phone or loyalty id is left out
final as (
    select
        normalised.segment_list_entry_id,
        normalised.list_name,
        normalised.identifier_type,
        {{ mask_personal('normalised.identifier', 'identifier', 'normalised.identifier_type') }} as identifier,
        {{ mask_personal('normalised.identifier_value', 'identifier', 'normalised.identifier_type') }}
            as identifier_value,
        normalised.added_at,
        normalised._load_id,
        normalised._loaded_at
    from normalised
    {{ anti_join_suppressed('identifier', 'normalised.identifier_value', type_expression='normalised.identifier_type') }}
    {{ anti_join_suppressed(
        'email',
        "case when normalised.identifier_type = 'email' then " ~ email_match_key('normalised.identifier_value') ~ " end",
        'suppressed_email_match_key'
    ) }}
)

select * from final
