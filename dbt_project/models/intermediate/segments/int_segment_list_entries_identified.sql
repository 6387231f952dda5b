-- Every uploaded list entry with the customer it names, or why it names none:
-- nothing uploaded disappears. An identifier several customers hold (a household
-- e-mail) is ambiguous and matches none of them, as for consent by e-mail.
with

entries as (
    select * from {{ ref('stg_landing__segment_lists') }}
),

identifier_customers as (
    select * from {{ ref('int_identifiers_resolved') }}
),

customers as (
    select * from {{ ref('dim_customers') }}
),

holders as (
    select
        entries.segment_list_entry_id,
        count(distinct coalesce(identifier_customers.customer_id, customers.customer_id)) as holder_count,
        min(coalesce(identifier_customers.customer_id, customers.customer_id)) as customer_id
    from entries
    left join identifier_customers
        on entries.identifier_type <> 'customer_id'
        and identifier_customers.identifier_type = entries.identifier_type
        and identifier_customers.identifier_value = case
            when entries.identifier_type = 'email' then {{ email_match_key('entries.identifier_value') }}
            else entries.identifier_value
        end
    left join customers
        on entries.identifier_type = 'customer_id'
        and customers.customer_id = entries.identifier_value
    group by entries.segment_list_entry_id
),

final as (
    select
        entries.segment_list_entry_id,
        entries.list_name,
        entries.identifier_type,
        case when holders.holder_count = 1 then holders.customer_id end as customer_id,
        case
            when entries.identifier_value is null then 'invalid ' || entries.identifier_type
            when holders.holder_count = 0 then 'no customer holds it'
            when holders.holder_count > 1 then 'held by ' || holders.holder_count || ' customers'
        end as unmatched_reason,
        entries.added_at
    from entries
    inner join holders
        on holders.segment_list_entry_id = entries.segment_list_entry_id
)

select * from final
