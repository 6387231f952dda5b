{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_stale_pair_comparisons() }}",
) }}

-- Each comparison's level for the blocked pairs, kept between runs under the two records'
-- comparison fingerprints: comparing is a function of the compared columns alone, so a
-- pair is compared once, and again only when a record's compared columns change (a new
-- fingerprint) or the comparison SQL does (comparison_version). A daily run compares the
-- pairs of new and changed records, not every pair (docs/identity.md#comparisons-kept-between-runs).
with

blocked_pairs as (
    select * from {{ ref('int_identity_blocked_pairs') }}
),

records as (
    select * from {{ ref('int_identity_match_records') }}
),

-- one pair per fingerprint pair not stored yet (records with equal compared columns compare alike)
uncompared as (
    select
        record_rank_l,
        record_rank_r,
        comparison_fingerprint_l,
        comparison_fingerprint_r
    from blocked_pairs
    {%- if is_incremental() %}
    -- the pre_hook left only comparisons that serve
    where (comparison_fingerprint_l, comparison_fingerprint_r) not in (
        select comparison_fingerprint_l, comparison_fingerprint_r
        from {{ this }}
    )
    {%- endif %}
    qualify row_number() over (
        partition by comparison_fingerprint_l, comparison_fingerprint_r
        order by record_rank_l, record_rank_r
    ) = 1
),

final as (
    select
        uncompared.comparison_fingerprint_l,
        uncompared.comparison_fingerprint_r,
        '{{ comparison_version() }}' as comparison_version,
        {{ comparison_level_columns() }}
    from uncompared
    inner join records as l
        on l.record_rank = uncompared.record_rank_l
    inner join records as r
        on r.record_rank = uncompared.record_rank_r
)

select * from final
