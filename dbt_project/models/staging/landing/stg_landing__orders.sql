with

orders as (
    select * from {{ source('landing', 'orders') }}
),

as_of_versions as (
    select
        lower(trim(source_system)) as source_system,
        trim(order_id) as source_order_id,
        nullif(trim(source_customer_id), '') as source_customer_id,
        ordered_at,
        status,
        currency,
        total_amount,
        channel,
        coalesce(updated_at, ordered_at) as updated_at,
        _load_id,
        _record_number,
        _loaded_at
    from orders
    -- a version changed after the cutoff (e.g. re-sent as returned) did not exist yet
    where {{ is_before_cutoff('ordered_at') }}
        and {{ is_before_cutoff('coalesce(updated_at, ordered_at)') }}
),

deduplicated as (
    {{ latest_version('as_of_versions', ['source_system', 'source_order_id'], order_by='updated_at desc') }}
),

final as (
    select
        {{ surrogate_key(['source_system', 'source_order_id']) }} as order_id,
        source_system,
        source_order_id,
        -- an order of a suppressed record is kept for the accounts, without its buyer
        case when suppressed_source_record.identifier_sha256 is null then source_customer_id end as source_customer_id,
        {{ clean_enum('status') }} as order_status,
        {{ clean_enum('channel') }} as sales_channel,
        upper(trim(currency)) as currency_code,
        total_amount,
        cast({{ to_utc_timestamp('ordered_at') }} as date) as ordered_date,
        {{ to_utc_timestamp('ordered_at') }} as ordered_at,
        {{ to_utc_timestamp('updated_at') }} as status_updated_at,
        _load_id,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from deduplicated
    {{ left_join_suppressed('source_record', source_record_key('deduplicated.source_system', 'deduplicated.source_customer_id')) }}
)

select * from final
