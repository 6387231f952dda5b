-- Incremental: reads only the raw rows that can change the table (macros/incremental_facts.sql).
{% set build = staged_fact('order_id', ['ordered_at', 'status_updated_at']) %}

with

orders as (
    select * from {{ source('landing', 'orders') }}
    -- a version changed after the cutoff (e.g. re-sent as returned) did not exist yet
    where {{ is_before_cutoff('ordered_at') }}
        and {{ is_before_cutoff('coalesce(updated_at, ordered_at)') }}
    {{ fact_delta_filter(build, {
        'ordered_at': 'ordered_at',
        'status_updated_at': 'coalesce(updated_at, ordered_at)',
    }) }}
),

new_versions as (
    select
        {{ surrogate_key(['lower(trim(source_system))', 'trim(order_id)']) }} as order_id,
        lower(trim(source_system)) as source_system,
        trim(order_id) as source_order_id,
        nullif(trim(source_customer_id), '') as source_customer_id,
        {{ clean_enum('status') }} as order_status,
        {{ clean_enum('channel') }} as sales_channel,
        upper(trim(currency)) as currency_code,
        total_amount,
        cast({{ to_utc_timestamp('ordered_at') }} as date) as ordered_date,
        {{ to_utc_timestamp('ordered_at') }} as ordered_at,
        {{ to_utc_timestamp('coalesce(updated_at, ordered_at)') }} as status_updated_at,
        _load_id,
        _record_number,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from orders
),

candidates as (
    {{ fact_candidates(build, 'new_versions', ['order_id']) }}
),

deduplicated as (
    {{ latest_version('candidates', ['order_id'], order_by='status_updated_at desc') }}
),

final as (
    select
        order_id,
        source_system,
        source_order_id,
        -- an order of a suppressed record is kept for the accounts, without its buyer
        case when suppressed_source_record.identifier_sha256 is null then source_customer_id end as source_customer_id,
        order_status,
        sales_channel,
        currency_code,
        total_amount,
        ordered_date,
        ordered_at,
        status_updated_at,
        _load_id,
        _record_number,
        _loaded_at
    from deduplicated
    {{ left_join_suppressed('source_record', source_record_key('deduplicated.source_system', 'deduplicated.source_customer_id')) }}
)

select * from final
