with

products as (
    select * from {{ source('landing', 'products') }}
),

keyed as (
    select
        trim(product_id) as product_id,
        name,
        category,
        price,
        _load_id,
        _record_number,
        _loaded_at
    from products
),

deduplicated as (
    {{ latest_version('keyed', ['product_id']) }}
),

final as (
    select
        product_id,
        {{ clean_text('name') }} as product_name,
        {{ clean_enum('category') }} as product_category,
        price,
        _load_id,
        {{ to_utc_timestamp('_loaded_at') }} as _loaded_at
    from deduplicated
)

select * from final
