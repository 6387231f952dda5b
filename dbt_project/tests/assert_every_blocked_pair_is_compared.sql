-- Dagster shows this test as a check on the model named here (it reads several).
{{ config(meta={'dagster': {'ref': {'name': 'int_identity_pair_comparisons'}}}) }}

-- Every pair blocking selects has its comparison kept (int_identity_pair_comparisons): a
-- pair without one would have no comparison levels in int_identity_candidate_pairs.
with

blocked_pairs as (
    select * from {{ ref('int_identity_blocked_pairs') }}
),

comparisons as (
    select * from {{ ref('int_identity_pair_comparisons') }}
)

select
    blocked_pairs.record_rank_l,
    blocked_pairs.record_rank_r
from blocked_pairs
{{ join_kept_comparisons() }}
where comparisons.comparison_fingerprint_l is null
