{%- set comparisons = identity_comparisons() -%}
{%- set vetoes = var('identity_vetoes') -%}
{%- set exclusive_systems = var('identity_exclusive_source_systems') -%}
{%- set levels_by_name = {} -%}
{%- for comparison in comparisons -%}
    {%- do levels_by_name.update({comparison.name: comparison.levels | length}) -%}
{%- endfor -%}
{%- for veto in vetoes -%}
    {%- for field in ['disagree', 'unless_agree'] if veto[field] is defined and veto[field] not in levels_by_name -%}
        {{ exceptions.raise_compiler_error("var identity_vetoes, field '" ~ field ~ "': unknown comparison '" ~ veto[field] ~ "' (one of: " ~ levels_by_name.keys() | join(', ') ~ ")") }}
    {%- endfor -%}
    {%- if veto.disagree is not defined -%}
        {{ exceptions.raise_compiler_error("var identity_vetoes, veto " ~ loop.index ~ ": needs 'disagree'") }}
    {%- endif -%}
{%- endfor %}


-- Every candidate pair (by its records' ranks) with its match weight and probability, whether it links
-- (a shared identifier or a probability at least identity_match_threshold, unless
-- a veto, var identity_vetoes, applies) and, for links, the comparisons that agreed.
with

candidate_pairs as (
    select * from {{ ref('int_identity_candidate_pairs') }}
),

match_weights as (
    select * from {{ ref('int_identity_match_weights') }}
),

-- read only to break ties between exclusive systems' proposed links
records as (
    select * from {{ ref('int_identity_match_records') }}
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
        {% if vetoes -%}
        (
            {%- for veto in vetoes %}
            (gamma_{{ veto.disagree }} = 0
                {%- if veto.unless_agree is defined %}
                and gamma_{{ veto.unless_agree }} < {{ levels_by_name[veto.unless_agree] - 1 }}
                {%- endif %})
            {%- if not loop.last %} or {% endif %}
            {%- endfor %}
        )
        {%- else -%}
        false
        {%- endif %} as is_vetoed
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
        case
            when decided.is_vetoed then 'vetoed (var identity_vetoes)'
            when decided.proposed_rule is null then 'below threshold'
            {%- if exclusive_systems %}
            when {{ not_best }} then 'not the best match in an exclusive system'
            {%- endif %}
        end as not_linked_reason
    from decided
    {%- if exclusive_systems %}
    left join exclusive_proposals
        on exclusive_proposals.record_rank_l = decided.record_rank_l
        and exclusive_proposals.record_rank_r = decided.record_rank_r
    {%- endif %}
),

-- the comparisons that agreed, for links only (the links mart and cdp explain show them).
-- Each pair's comparison levels, blocking rules and systems are left in
-- int_identity_candidate_pairs: every pair (56 million at 1,000,000 customers) is written
-- every run, and those columns took a quarter of its time (cdp explain joins them back).
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
