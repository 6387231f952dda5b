with

identifiers as (
    select * from {{ ref('int_customer_identifiers_unioned') }}
    where is_linking
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

-- every record holding a linking identifier links to the first record holding it:
-- k records sharing a value give k - 1 links, enough to explain why they are one
anchored as (
    select
        customer_record_id,
        identifier_type,
        identifier_value,
        min(customer_record_id) over (partition by identifier_type, identifier_value) as anchor_record_id
    from identifiers
),

final as (
    select
        {{ surrogate_key(['anchored.anchor_record_id', 'anchored.customer_record_id', 'anchored.identifier_type']) }}
            as customer_identity_link_id,
        records.customer_id,
        anchored.anchor_record_id as from_customer_record_id,
        anchored.customer_record_id as to_customer_record_id,
        'shared_' || anchored.identifier_type as link_rule,
        anchored.identifier_type as agreeing_field,
        -- the value itself is personal data: show a digest so links can be compared without it
        left(md5(anchored.identifier_value), 12) as agreeing_value_digest,
        cast(1.0 as double) as match_probability
    from anchored
    inner join customer_records as records
        on records.customer_record_id = anchored.customer_record_id
    where anchored.customer_record_id <> anchored.anchor_record_id
)

select * from final
