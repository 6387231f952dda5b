{%- set rules = var('identity_blocking_rules') -%}
{%- set comparisons = identity_comparisons() -%}
{%- set identifier_comparisons = {'email': ['email'], 'phone': ['phone']} -%}
{%- set level_labels = {} -%}
{%- for comparison in comparisons -%}
    {%- do level_labels.update({comparison.name: comparison_level_labels(comparison)}) -%}
{%- endfor -%}
{%- set sample_order = var('identity_u_sample_order') -%}
{%- if sample_order not in ('engine_hash', 'md5') -%}
    {{ exceptions.raise_compiler_error("var identity_u_sample_order must be engine_hash or md5, got '" ~ sample_order ~ "'") }}
{%- endif -%}
{%- set gammas -%}
    {% for comparison in comparisons %}gamma_{{ comparison.name }}{% if not loop.last %}, {% endif %}{% endfor %}
{%- endset %}


-- Comparison-level patterns and how many pairs show each, for training the
-- Fellegi-Sunter model: random record pairs (almost all non-matches) give u;
-- the pairs of each blocking rule and shared identifier give m by EM for the
-- comparisons the rule did not select on; all candidate pairs give the prior.
with

-- a random order of the records, the same every run (var identity_u_sample_order)
records as (
    select
        *,
        row_number() over (
            order by
                {{ dbt.hash('customer_record_id') if sample_order == 'md5' else stable_hash('customer_record_id') }},
                customer_record_id
        ) as sample_position
    from {{ ref('int_identity_match_records') }}
),

blocked_pairs as (
    select * from {{ ref('int_identity_blocked_pairs') }}
),

comparisons as (
    select * from {{ ref('int_identity_pair_comparisons') }}
),

record_count as (
    select count(*) as records from records
),

-- pair each record with the records 1..k places after it in a random order, the
-- same pairs every run: k = identity_u_sample_pairs_per_record, fewer when that
-- would make more than identity_u_sample_pairs pairs
offsets as (
    select value as sample_offset
    from (
        {{ integer_series('record_count', 1, 'cast(least(
            greatest(record_count.records - 1, 0),
            ' ~ var('identity_u_sample_pairs_per_record') ~ ',
            ceil(' ~ var('identity_u_sample_pairs') ~ ' / greatest(record_count.records, 1))
        ) as bigint)') }}
    ) as series
),

random_partners as (
    select
        records.sample_position,
        (records.sample_position - 1 + offsets.sample_offset) % record_count.records + 1 as partner_position
    from records
    cross join offsets
    cross join record_count
),

random_pairs as (
    select
        {{ comparison_level_columns() }}
    from random_partners
    inner join records as l
        on l.sample_position = random_partners.sample_position
    inner join records as r
        on r.sample_position = random_partners.partner_position
),

-- the candidate pairs by blocking mask and pattern: one read of them for every sample below.
-- Read from the pairs and their comparisons, not int_identity_candidate_pairs: the patterns
-- need no record (term frequencies, source systems), and joining 56 million pairs to their two
-- records cost about 4 s at 1,000,000 customers. The same left join as there: a pair without
-- its comparison counts with null levels.
candidate_patterns as (
    select blocked_pairs.blocking_mask, {{ gammas }}, count(*) as pair_count
    from blocked_pairs
    {{ join_kept_comparisons() }}
    group by all
),

-- each blocking rule and shared identifier with the comparisons m cannot be learnt for
-- from the pairs it selected (those it selected on)
rule_samples as (
    {% for rule in rules -%}
    select
        {{ 2 ** loop.index0 }} as rule_bit,
        'rule:{{ rule.name }}' as sample,
        {{ string_array(comparisons_using(blocking_rule_columns(rule))) }} as untrainable_comparisons
    union all
    {% endfor -%}
    {% for identifier_type in var('identity_match_keys') -%}
    select
        {{ 2 ** (rules | length + loop.index0) }},
        'rule:shared_{{ identifier_type }}',
        {{ string_array(identifier_comparisons.get(identifier_type, [])) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

samples as (
    select 'random' as sample, {{ string_array([]) }} as untrainable_comparisons, {{ gammas }}, 1 as pair_count
    from random_pairs

    union all

    select 'candidates' as sample, {{ string_array([]) }}, {{ gammas }}, pair_count
    from candidate_patterns

    union all

    select rule_samples.sample, rule_samples.untrainable_comparisons, {{ gammas }}, candidate_patterns.pair_count
    from candidate_patterns
    inner join rule_samples
        on candidate_patterns.blocking_mask & rule_samples.rule_bit <> 0
),

final as (
    select
        sample,
        untrainable_comparisons,
        {{ gammas }},
        cast(sum(pair_count) as bigint) as pair_count,
        any_value(record_count.records) as record_count,
        -- the labels of each comparison's levels (index = level), for the trainer
        '{{ tojson(level_labels) }}' as level_labels
    from samples
    cross join record_count
    group by all
)

select * from final
