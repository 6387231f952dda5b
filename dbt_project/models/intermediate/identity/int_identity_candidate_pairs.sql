{# a view: its two readers read it once each, and writing its 2 million rows (at 100,000
   customers) cost more than joining them again #}
{{ config(materialized='view') }}

-- Candidate pairs: the blocked pairs with the level of agreement of each comparison
-- and, for the comparisons weighed by term frequency, how common the agreed value is
-- now (frequencies move with every new record, so they are never stored with the
-- comparisons).
with

blocked_pairs as (
    select * from {{ ref('int_identity_blocked_pairs') }}
),

comparisons as (
    select * from {{ ref('int_identity_pair_comparisons') }}
),

records as (
    select * from {{ ref('int_identity_match_records') }}
),

final as (
    select
        -- ranks, not the records' text ids: scored pairs are written for every pair,
        -- and only the links need the ids (int_identity_links joins them)
        blocked_pairs.record_rank_l,
        blocked_pairs.record_rank_r,
        -- erasure finds a pair by its records' fingerprints (cdp/privacy/personal_data.yml)
        blocked_pairs.comparison_fingerprint_l,
        blocked_pairs.comparison_fingerprint_r,
        l.source_system as source_system_l,
        r.source_system as source_system_r,
        blocked_pairs.blocking_mask,
        blocked_pairs.shared_identifier,
        {%- for comparison in identity_comparisons() if comparison.term_frequency %}
        -- how common the agreed value is (used when the comparison is exact)
        case when l.{{ comparison.term_frequency }} = r.{{ comparison.term_frequency }}
            then l.{{ comparison.term_frequency }}_frequency
        end as term_frequency_{{ comparison.name }},
        {%- endfor %}
        {%- for comparison in identity_comparisons() %}
        comparisons.gamma_{{ comparison.name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from blocked_pairs
    inner join records as l
        on l.record_rank = blocked_pairs.record_rank_l
    inner join records as r
        on r.record_rank = blocked_pairs.record_rank_r
    {{ join_kept_comparisons() }}
)

select * from final
