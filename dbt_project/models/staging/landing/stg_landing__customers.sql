-- Incremental: reads only the raw rows that can change the table (macros/incremental_facts.sql);
-- a record's new versions are cleaned, then weighed against the version the table holds.
{% set build = staged_fact('customer_record_id', ['created_at', 'updated_at']) %}

with

customers as (
    select * from {{ source('landing', 'customers') }}
),

country_aliases as (
    select * from {{ ref('country_aliases') }}
),

country_codes as (
    select * from {{ ref('country_codes') }}
),

junk_values as (
    select * from {{ ref('junk_values') }}
),

-- the records that existed at the cutoff, in the version they had then (on a delta build, the
-- versions that may be newer than the one held)
as_of_versions as (
    select
        lower(trim(source_system)) as source_system,
        trim(source_customer_id) as source_customer_id,
        email,
        phone,
        first_name,
        last_name,
        birth_date,
        gender,
        street,
        city,
        postcode,
        state,
        country,
        language,
        loyalty_id,
        created_at,
        updated_at,
        _load_id,
        _record_number,
        _loaded_at
    from customers
    where {{ is_before_cutoff('created_at', keep_nulls=true) }}
        and {{ is_before_cutoff('updated_at', keep_nulls=true) }}
        {{ fact_delta_filter(build, {
            'created_at': 'created_at', 'updated_at': 'updated_at'
        }) }}
),

deduplicated as (
    {{ latest_version('as_of_versions', ['source_system', 'source_customer_id'], 'updated_at desc nulls last') }}
),

cleaned as (
    select
        deduplicated.source_system,
        deduplicated.source_customer_id,
        deduplicated.email as email_as_sent,
        deduplicated.phone as phone_as_sent,
        {{ normalise_email('deduplicated.email') }} as email,
        {{ phone_digits('deduplicated.phone') }} as phone_digits,
        {{ phone_has_plus('deduplicated.phone') }} as phone_has_plus,
        {{ clean_value('deduplicated.first_name', 'name') }} as first_name,
        {{ clean_value('deduplicated.last_name', 'name') }} as last_name,
        {{ normalise_gender('deduplicated.gender') }} as gender,
        {{ clean_value('deduplicated.street', 'street') }} as street,
        {{ clean_value('deduplicated.city', 'city') }} as city,
        upper({{ clean_value('deduplicated.postcode', 'postcode') }}) as postcode,
        upper({{ clean_value('deduplicated.state', 'state') }}) as state,
        country_aliases.country_code,
        {{ normalise_language('deduplicated.language') }} as language_code,
        {{ normalise_loyalty_id('deduplicated.loyalty_id') }} as loyalty_id,
        deduplicated.birth_date,
        deduplicated.created_at,
        deduplicated.updated_at,
        deduplicated._load_id,
        deduplicated._record_number,
        deduplicated._loaded_at
    from deduplicated
    left join country_aliases
        on country_aliases.country_alias = {{ country_alias_key('deduplicated.country') }}
),

-- phone numbers are read with the record's country, else the default country
standardised as (
    select
        cleaned.source_system,
        cleaned.source_customer_id,
        cleaned.loyalty_id,
        cleaned.email,
        cleaned.email_as_sent,
        {{ phone_to_e164(
            'cleaned.phone_digits', 'cleaned.phone_has_plus', 'country_codes.calling_code',
            'country_codes.trunk_prefix', 'country_codes.international_prefix',
            'country_codes.min_national_number_length', 'country_codes.max_national_number_length'
        ) }} as phone,
        cleaned.phone_as_sent,
        {{ proper_case('cleaned.first_name') }} as first_name,
        {{ proper_case('cleaned.last_name') }} as last_name,
        cleaned.gender,
        cleaned.street,
        {{ proper_case('cleaned.city') }} as city,
        cleaned.postcode,
        cleaned.state,
        cleaned.country_code,
        cleaned.language_code,
        cleaned.birth_date,
        cleaned.created_at,
        cleaned.updated_at,
        cleaned._load_id,
        cleaned._record_number,
        cleaned._loaded_at
    from cleaned
    left join country_codes
        on country_codes.country_code = coalesce(cleaned.country_code, '{{ var("default_country") }}')
),

-- a record whose key, e-mail, phone or loyalty id is suppressed never reaches staging
unsuppressed as (
    select standardised.*
    from standardised
    {{ anti_join_suppressed('source_record', source_record_key('standardised.source_system', 'standardised.source_customer_id')) }}
    {{ anti_join_suppressed_email('standardised.email') }}
    {{ anti_join_suppressed('phone', 'standardised.phone') }}
    {{ anti_join_suppressed('loyalty_id', 'standardised.loyalty_id') }}
),

new_records as (
    select
        {{ surrogate_key(['source_system', 'source_customer_id']) }} as customer_record_id,
        source_system,
        source_customer_id,
        loyalty_id,
        {{ mask_personal('email', 'email') }} as email,
        {{ mask_personal('phone', 'phone') }} as phone,
        {{ mask_personal('first_name', 'name') }} as first_name,
        {{ mask_personal('last_name', 'name') }} as last_name,
        gender,
        {{ mask_personal('street', 'street') }} as street,
        city,
        {{ mask_personal('postcode', 'postcode') }} as postcode,
        state,
        country_code,
        language_code,
        {{ is_valid('email_as_sent', 'email') }} as is_valid_email,
        {{ is_valid('phone_as_sent', 'phone') }} as is_valid_phone,
        {{ mask_personal('birth_date', 'birth_date') }} as birth_date,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        _load_id,
        _record_number,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from unsuppressed
),

candidates as (
    {{ fact_candidates(build, 'new_records', ['customer_record_id']) }}
),

latest as (
    {{ latest_version('candidates', ['customer_record_id'], 'updated_at desc nulls last') }}
)

select
    customer_record_id,
    source_system,
    source_customer_id,
    loyalty_id,
    email,
    phone,
    first_name,
    last_name,
    gender,
    street,
    city,
    postcode,
    state,
    country_code,
    language_code,
    is_valid_email,
    is_valid_phone,
    birth_date,
    created_at,
    updated_at,
    _load_id,
    _record_number,
    _loaded_at
from latest
