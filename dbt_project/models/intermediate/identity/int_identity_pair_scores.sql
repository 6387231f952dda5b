{%- set comparisons = identity_comparisons() -%}

{# a view: scoring every pair is cheap beside writing it (56 million pairs at 1,000,000 customers,
   of which about 4 % link or cannot link); int_identity_scored_pairs keeps those, and cdp explain
   reads one pair's score here #}
{{ config(materialized='view') }}

-- Every candidate pair (by its records' ranks) with its match weight and probability, whether a
-- veto (var identity_vetoes) applies, and the link it proposes: a shared identifier, or a
-- probability at least identity_match_threshold, unless vetoed. Whether a proposed link between
-- exclusive systems is the best one is decided in int_identity_scored_pairs.
with

candidate_pairs as (
    select * from {{ ref('int_identity_candidate_pairs') }}
),

match_weights as (
    select * from {{ ref('int_identity_match_weights') }}
),

-- one row: each comparison's weights by level (list index = level + 1)
weight_lists as (
    select
        {%- for comparison in comparisons %}
        {{ ordered_array_agg('match_weight', 'level', where="comparison = '" ~ comparison.name ~ "'") }}
            as {{ comparison.name }}_weights,
        {{ ordered_array_agg('m_probability', 'level', where="comparison = '" ~ comparison.name ~ "'") }}
            as {{ comparison.name }}_m,
        {%- endfor %}
        any_value(prior_match_weight) as prior_match_weight
    from match_weights
),

scored as (
    select
        candidate_pairs.*,
        weight_lists.prior_match_weight
        {%- for comparison in comparisons %}
            + case
                {%- if comparison.term_frequency %}
                -- exact agreement on a value: u is how common the value is
                when gamma_{{ comparison.name }} = {{ comparison.levels | length }} and term_frequency_{{ comparison.name }} > 0
                    and weight_lists.{{ comparison.name }}_m is not null
                    then log2({{ array_element('weight_lists.' ~ comparison.name ~ '_m', 'gamma_' ~ comparison.name ~ ' + 1') }} / term_frequency_{{ comparison.name }})
                {%- endif %}
                -- a comparison without trained weights carries no evidence
                when gamma_{{ comparison.name }} >= 0
                    then coalesce({{ array_element('weight_lists.' ~ comparison.name ~ '_weights', 'gamma_' ~ comparison.name ~ ' + 1') }}, 0)
                else 0
            end
        {%- endfor %} as match_weight,
        {{ identity_veto() }} as is_vetoed
    from candidate_pairs
    cross join weight_lists
),

decided as (
    select
        *,
        1 / (1 + pow(2, -match_weight)) as match_probability,
        case
            when is_vetoed then null
            when shared_identifier is not null then 'shared_' || shared_identifier
            when 1 / (1 + pow(2, -match_weight)) >= {{ var('identity_match_threshold') }} then 'probabilistic'
        end as proposed_rule
    from scored
)

select
    *,
    case
        when is_vetoed then 'vetoed (var identity_vetoes)'
        when proposed_rule is null then 'below threshold'
    end as not_linked_reason
from decided
