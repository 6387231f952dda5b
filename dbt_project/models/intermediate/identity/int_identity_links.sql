-- The pairs that link records into customers. A link is strong when a shared
-- identifier made it or its probability is at least identity_strong_link_probability;
-- in clustering a weak link never joins two groups each held by a strong link.
with

scored_pairs as (
    select * from {{ ref('int_identity_scored_pairs') }}
),

records as (
    select * from {{ ref('int_identity_match_records') }}
),

-- scored pairs carry ranks only: the records' ids are joined here, for the links alone
links as (
    select *
    from scored_pairs
    where link_rule is not null
),

final as (
    select
        l.customer_record_id as record_id_l,
        r.customer_record_id as record_id_r,
        links.record_rank_l,
        links.record_rank_r,
        links.link_rule,
        links.match_probability,
        links.match_weight,
        links.agreeing_comparisons,
        links.link_rule <> 'probabilistic'
            or links.match_probability >= {{ var('identity_strong_link_probability') }} as is_strong
    from links
    inner join records as l
        on l.record_rank = links.record_rank_l
    inner join records as r
        on r.record_rank = links.record_rank_r
)

select * from final
