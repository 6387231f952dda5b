-- Dagster shows this test as a check on the model named here (it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'int_identity_pair_comparisons'}}}) }}

-- Every pair blocking selects has its comparison kept (int_identity_pair_comparisons): a
-- pair without one would have no comparison levels in int_identity_candidate_pairs.
select
    blocked_pairs.record_rank_l,
    blocked_pairs.record_rank_r
from {{ ref('int_identity_blocked_pairs') }} as blocked_pairs
left join {{ ref('int_identity_pair_comparisons') }} as comparisons
    on comparisons.comparison_fingerprint_l = blocked_pairs.comparison_fingerprint_l
    and comparisons.comparison_fingerprint_r = blocked_pairs.comparison_fingerprint_r
where comparisons.comparison_fingerprint_l is null
