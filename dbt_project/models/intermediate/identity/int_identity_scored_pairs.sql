{%- set comparisons = identity_comparisons() -%}
{%- set exclusive_systems = var('identity_exclusive_source_systems') -%}


-- The pairs identity decides on: each pair that links (a shared identifier, or a probability at
-- least identity_match_threshold, unless a veto applies) or proposed a link an exclusive system
-- turned down, and each vetoed pair that shares an identifier (a cannot-link pair clustering
-- reads), with its match weight and probability and, for links, the comparisons that agreed.
-- Every other pair's score is in the view int_identity_pair_scores: writing all of them (56 million
-- at 1,000,000 customers, 2.5 million of them kept here) took 10–25 s more a run.
with

pair_scores as (
    select * from {{ ref('int_identity_pair_scores') }}
),

decided as (
    select *
    from pair_scores
    where proposed_rule is not null
        or (is_vetoed and shared_identifier is not null)
),

-- read only to break ties between exclusive systems' proposed links
records as (
    select * from {{ ref('int_identity_match_records') }}
),

{%- if exclusive_systems %}
-- records of exclusive systems link one-to-one: each keeps its best match in the other
-- system. Only proposed links between two exclusive systems are ranked (a partition
-- holds one pair of systems); ties go to the smaller record id, which never changes.
exclusive_proposals as (
    select
        decided.record_rank_l,
        decided.record_rank_r,
        row_number() over (
            partition by decided.record_rank_l, decided.source_system_r
            order by decided.match_weight desc, r.customer_record_id
        ) as rank_for_l,
        row_number() over (
            partition by decided.record_rank_r, decided.source_system_l
            order by decided.match_weight desc, l.customer_record_id
        ) as rank_for_r
    from decided
    inner join records as l
        on l.record_rank = decided.record_rank_l
    inner join records as r
        on r.record_rank = decided.record_rank_r
    where decided.proposed_rule is not null
        and decided.source_system_l in ('{{ exclusive_systems | join("', '") }}')
        and decided.source_system_r in ('{{ exclusive_systems | join("', '") }}')
),

{% endif -%}
decisions as (
    select
        decided.record_rank_l,
        decided.record_rank_r,
        decided.comparison_fingerprint_l,
        decided.comparison_fingerprint_r,
        decided.shared_identifier,
        {%- for comparison in comparisons %}
        decided.gamma_{{ comparison.name }},
        {%- endfor %}
        decided.match_weight,
        decided.match_probability,
        decided.is_vetoed,
        {%- set not_best = 'exclusive_proposals.rank_for_l > 1 or exclusive_proposals.rank_for_r > 1' %}
        case
            when decided.proposed_rule is null then null
            {%- if exclusive_systems %}
            when {{ not_best }} then null
            {%- endif %}
            else decided.proposed_rule
        end as link_rule,
        {%- if exclusive_systems %}
        case
            when decided.proposed_rule is not null and ({{ not_best }}) then 'not the best match in an exclusive system'
            else decided.not_linked_reason
        end
        {%- else %}
        decided.not_linked_reason
        {%- endif %} as not_linked_reason
    from decided
    {%- if exclusive_systems %}
    left join exclusive_proposals
        on exclusive_proposals.record_rank_l = decided.record_rank_l
        and exclusive_proposals.record_rank_r = decided.record_rank_r
    {%- endif %}
),

-- the comparisons that agreed, for links only (the links mart and cdp explain show them). The
-- pairs' comparison levels, blocking rules and systems stay in int_identity_candidate_pairs.
final as (
    select
        decisions.record_rank_l,
        decisions.record_rank_r,
        decisions.comparison_fingerprint_l,
        decisions.comparison_fingerprint_r,
        decisions.shared_identifier,
        decisions.match_weight,
        decisions.match_probability,
        decisions.is_vetoed,
        decisions.link_rule,
        decisions.not_linked_reason,
        {%- set agreements = [] %}
        {%- for comparison in comparisons %}
        {%- do agreements.append(
            'case when gamma_' ~ comparison.name ~ ' >= 1 then ' ~ sql_string(comparison.name ~ ':') ~ ' || '
            ~ array_element(string_array(comparison_level_labels(comparison)), 'gamma_' ~ comparison.name ~ ' + 1') ~ ' end'
        ) %}
        {%- endfor %}
        case when link_rule is not null then {{ array_of_non_null(agreements) }} end as agreeing_comparisons
    from decisions
)

select * from final
