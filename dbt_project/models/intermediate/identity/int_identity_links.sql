-- The pairs that link records into customers. A link is strong when a shared
-- identifier made it or its probability is at least identity_strong_link_probability;
-- in clustering a weak link never joins two groups each held by a strong link.
with

scored_pairs as (
    select * from {{ ref('int_identity_scored_pairs') }}
),

final as (
    select
        record_id_l,
        record_id_r,
        record_rank_l,
        record_rank_r,
        link_rule,
        match_probability,
        match_weight,
        agreeing_comparisons,
        link_rule <> 'probabilistic'
            or match_probability >= {{ var('identity_strong_link_probability') }} as is_strong
    from scored_pairs
    where link_rule is not null
)

select * from final
