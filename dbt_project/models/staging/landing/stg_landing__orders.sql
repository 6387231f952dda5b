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
        _load_id,
        _record_number,
        _loaded_at
    from orders
    where {{ is_before_cutoff('ordered_at') }}
),

deduplicated as (
    {{ latest_version('as_of_versions', ['source_system', 'source_order_id']) }}
),

final as (
    select
        {{ surrogate_key(['source_system', 'source_order_id']) }} as order_id,
        source_system,
        source_order_id,
        source_customer_id,
        {{ clean_enum('status') }} as order_status,
        {{ clean_enum('channel') }} as sales_channel,
        upper(trim(currency)) as currency_code,
        total_amount,
        cast({{ to_utc_timestamp('ordered_at') }} as date) as ordered_date,
        {{ to_utc_timestamp('ordered_at') }} as ordered_at,
        _load_id,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from deduplicated
)

select * from final
