with

order_items as (
    select * from {{ source('landing', 'order_items') }}
),

-- lines carry no time of their own: they exist when their order existed at the cutoff
orders as (
    select
        lower(trim(source_system)) as source_system,
        trim(order_id) as source_order_id
    from {{ source('landing', 'orders') }}
    where {{ is_before_cutoff('ordered_at') }}
),

as_of_versions as (
    select
        lower(trim(order_items.source_system)) as source_system,
        trim(order_items.order_id) as source_order_id,
        trim(order_items.product_id) as product_id,
        order_items.quantity,
        order_items.unit_price,
        order_items._load_id,
        order_items._record_number,
        order_items._loaded_at
    from order_items
    where exists (
        select 1
        from orders
        where orders.source_system = lower(trim(order_items.source_system))
            and orders.source_order_id = trim(order_items.order_id)
    )
),

deduplicated as (
    {{ latest_version('as_of_versions', ['source_system', 'source_order_id', 'product_id'], versions='as_of_versions') }}
),

final as (
    select
        {{ surrogate_key(['source_system', 'source_order_id', 'product_id']) }} as order_item_id,
        {{ surrogate_key(['source_system', 'source_order_id']) }} as order_id,
        source_system,
        source_order_id,
        product_id,
        quantity,
        unit_price,
        quantity * unit_price as line_amount,
        _load_id,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from deduplicated
)

select * from final
