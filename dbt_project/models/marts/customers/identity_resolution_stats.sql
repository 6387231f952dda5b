{{ config(tags=['identity']) }}

-- One row per as-of date: how identity resolution went.
with

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

identifiers as (
    select * from {{ ref('int_customer_identifiers_unioned') }}
),

scored_pairs as (
    select * from {{ ref('int_identity_scored_pairs') }}
),

comparison_patterns as (
    select * from {{ ref('int_identity_comparison_patterns') }}
),

links as (
    select * from {{ ref('int_identity_links') }}
),

clusters as (
    select * from {{ ref('int_identity_clusters') }}
),

match_weights as (
    select * from {{ ref('int_identity_match_weights') }}
),

assignments as (
    select * from {{ ref('int_customer_id_assignments') }}
),

records_per_customer as (
    select
        customer_id,
        count(*) as record_count
    from customer_records
    group by customer_id
),

customer_summary as (
    select
        count(*) as customer_count,
        sum(record_count) as source_record_count,
        count(*) filter (where record_count > 1) as multi_record_customer_count,
        max(record_count) as largest_customer_records,
        avg(record_count) as avg_records_per_customer
    from records_per_customer
),

identifier_summary as (
    select
        count(distinct identifier_type || ':' || identifier_value) filter (where is_linking) as linking_identifier_count,
        count(distinct identifier_type || ':' || identifier_value) filter (where is_blocked) as blocked_identifier_count,
        count(*) filter (where is_blocked) as records_with_blocked_identifier
    from identifiers
),

-- every candidate pair's levels are counted in the candidate patterns: a veto needs the levels alone
pair_summary as (
    select
        cast(coalesce(sum(pair_count), 0) as bigint) as candidate_pair_count,
        cast(coalesce(sum(case when {{ identity_veto() }} then pair_count end), 0) as bigint) as vetoed_pair_count
    from comparison_patterns
    where sample = 'candidates'
),

-- a shared e-mail or phone whose holders clearly differ (a household's address): scored pairs
-- keep these, the cannot-link pairs clustering reads
cannot_link_summary as (
    select count(*) as shared_identifier_pairs_vetoed
    from scored_pairs
    where is_vetoed and shared_identifier is not null
),

link_summary as (
    select
        count(*) filter (where link_rule like 'shared_%') as deterministic_link_count,
        count(*) filter (where link_rule = 'probabilistic') as probabilistic_link_count,
        count(*) filter (where not is_strong) as weak_link_count,
        -- a link whose ends ended in different customers was left out in clustering
        count(*) filter (where l.anchor_record_rank <> r.anchor_record_rank) as links_left_out
    from links
    inner join clusters as l
        on l.customer_record_id = links.record_id_l
    inner join clusters as r
        on r.customer_record_id = links.record_id_r
),

split_summary as (
    select
        count(distinct anchor_record_rank) filter (where split_reason = 'vetoed_pair') as customers_kept_apart_by_veto,
        count(distinct anchor_record_rank) filter (where split_reason = 'weak_link_between_customers')
            as customers_kept_apart_at_weak_link
    from clusters
),

change_summary as (
    select
        count(*) filter (where change_type = 'merged') as records_merged_latest_run,
        count(*) filter (where change_type = 'split') as records_split_latest_run
    from assignments
    where assigned_at = (select max(assigned_at) from assignments)
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        customer_summary.source_record_count,
        customer_summary.customer_count,
        customer_summary.multi_record_customer_count,
        customer_summary.largest_customer_records,
        round(customer_summary.avg_records_per_customer, 3) as avg_records_per_customer,
        round(1 - customer_summary.customer_count / nullif(customer_summary.source_record_count, 0), 4)
            as record_reduction_rate,
        identifier_summary.linking_identifier_count,
        identifier_summary.blocked_identifier_count,
        identifier_summary.records_with_blocked_identifier,
        pair_summary.candidate_pair_count,
        -- candidate pairs as a share of all pairs: what blocking saved
        round(
            pair_summary.candidate_pair_count
            / nullif(customer_summary.source_record_count * (customer_summary.source_record_count - 1) / 2, 0),
            8
        ) as candidate_share_of_all_pairs,
        pair_summary.vetoed_pair_count,
        cannot_link_summary.shared_identifier_pairs_vetoed,
        link_summary.deterministic_link_count,
        link_summary.probabilistic_link_count,
        link_summary.weak_link_count,
        link_summary.links_left_out,
        split_summary.customers_kept_apart_by_veto,
        split_summary.customers_kept_apart_at_weak_link,
        change_summary.records_merged_latest_run,
        change_summary.records_split_latest_run,
        (select any_value(prior_match_probability) from match_weights) as prior_match_probability
    from customer_summary
    cross join identifier_summary
    cross join pair_summary
    cross join cannot_link_summary
    cross join link_summary
    cross join split_summary
    cross join change_summary
)

select * from final
