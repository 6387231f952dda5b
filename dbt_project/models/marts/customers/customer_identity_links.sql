{{ config(tags=['identity']) }}

-- Why records are one customer: every link that holds a customer together, with
-- the rule that made it, its match probability and the comparisons that agreed.
with

links as (
    select * from {{ ref('int_identity_links') }}
),

clusters as (
    select * from {{ ref('int_identity_clusters') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

identifiers as (
    select * from {{ ref('int_customer_identifiers_unioned') }}
),

-- links left out in clustering join two customers, not one: not shown
kept_links as (
    select links.*
    from links
    inner join clusters as l
        on l.customer_record_id = links.record_id_l
    inner join clusters as r
        on r.customer_record_id = links.record_id_r
    where l.anchor_record_rank = r.anchor_record_rank
),

-- the shared value behind a shared-identifier link, as a digest (it is personal data)
shared_values as (
    select
        kept_links.record_id_l,
        kept_links.record_id_r,
        left(md5(l.identifier_value), 12) as agreeing_value_digest
    from kept_links
    inner join identifiers as l
        on l.customer_record_id = kept_links.record_id_l
        and 'shared_' || l.identifier_type = kept_links.link_rule
    inner join identifiers as r
        on r.customer_record_id = kept_links.record_id_r
        and r.identifier_type = l.identifier_type
        and r.identifier_value = l.identifier_value
),

final as (
    select
        {{ surrogate_key(['kept_links.record_id_l', 'kept_links.record_id_r']) }} as customer_identity_link_id,
        customer_records.customer_id,
        kept_links.record_id_l as from_customer_record_id,
        kept_links.record_id_r as to_customer_record_id,
        kept_links.link_rule,
        case
            when kept_links.link_rule like 'shared_%' then substr(kept_links.link_rule, 8)
            else {{ array_join('kept_links.agreeing_comparisons', "', '") }}
        end as agreeing_field,
        {{ array_join('kept_links.agreeing_comparisons', "', '") }} as agreeing_comparisons,
        shared_values.agreeing_value_digest,
        round(kept_links.match_probability, 6) as match_probability,
        round(kept_links.match_weight, 3) as match_weight,
        kept_links.is_strong
    from kept_links
    inner join customer_records
        on customer_records.customer_record_id = kept_links.record_id_l
    left join shared_values
        on shared_values.record_id_l = kept_links.record_id_l
        and shared_values.record_id_r = kept_links.record_id_r
)

select * from final
