{%- set record_columns = [
    'first_name_key', 'first_name_canonical', 'first_name_initial', 'last_name_key', 'last_name_initial',
    'birth_date', 'birth_date_digits', 'postcode_key', 'street_key', 'street_number', 'street_name_key', 'city_key',
    'email_key', 'email_local_part', 'phone', 'loyalty_id',
] -%}
{%- set rules = validated_blocking_rules(record_columns) -%}
{%- set max_block_size = var('identity_max_block_size') | int -%}
{%- set exclusive_systems = var('identity_exclusive_source_systems') -%}
{%- set identifier_types = var('identity_match_keys') -%}


-- Blocking: the pairs of records worth comparing, those that share a linking
-- identifier (e-mail, phone, loyalty id) or agree on every column of a blocking
-- rule. Blocking keeps this far below all pairs; int_identity_pair_comparisons
-- compares them.
with

records as (
    select * from {{ ref('int_identity_match_records') }}
),

identifiers as (
    select * from {{ ref('int_customer_identifiers_unioned') }}
    where is_linking
),

{% for rule in rules %}
{%- set columns = blocking_rule_columns(rule) %}
-- blocking rule {{ rule.name }}
{%- if rule.columns | select('mapping') | list | length == 0 %}
rule_{{ loop.index }}_records as (
    select *
    from records
    where {% for column in columns %}{{ column }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
    qualify count(*) over (partition by {{ columns | join(', ') }}) <= {{ rule.get('max_block_size', max_block_size) | int }}
),

rule_{{ loop.index }}_pairs as (
    select
        l.record_rank as rank_l,
        r.record_rank as rank_r
    from rule_{{ loop.index }}_records as l
    inner join rule_{{ loop.index }}_records as r
        on {{ blocking_rule_condition(rule) }}
        and l.record_rank < r.record_rank
),
{%- else %}
{%- set left_columns = rule.columns | map(attribute='left') | list %}
{%- set right_columns = rule.columns | map(attribute='right') | list %}
-- a cross-column rule: the block of a value is the records holding it on the
-- left side and those holding it on the right side; each side is capped
rule_{{ loop.index }}_left as (
    select *
    from records
    where {% for column in left_columns %}{{ column }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
    qualify count(*) over (partition by {{ left_columns | join(', ') }}) <= {{ rule.get('max_block_size', max_block_size) | int }}
),

rule_{{ loop.index }}_right as (
    select *
    from records
    where {% for column in right_columns %}{{ column }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
    qualify count(*) over (partition by {{ right_columns | join(', ') }}) <= {{ rule.get('max_block_size', max_block_size) | int }}
),

rule_{{ loop.index }}_pairs as (
    select distinct
        least(l.record_rank, r.record_rank) as rank_l,
        greatest(l.record_rank, r.record_rank) as rank_r
    from rule_{{ loop.index }}_left as l
    inner join rule_{{ loop.index }}_right as r
        on {{ blocking_rule_condition(rule) }}
        and l.record_rank <> r.record_rank
),
{%- endif %}
{% endfor %}

identifier_ranks as (
    select
        records.record_rank,
        identifiers.identifier_type,
        identifiers.identifier_value
    from identifiers
    inner join records
        on records.customer_record_id = identifiers.customer_record_id
),

identifier_pairs as (
    select
        l.record_rank as rank_l,
        r.record_rank as rank_r,
        l.identifier_type
    from identifier_ranks as l
    inner join identifier_ranks as r
        on r.identifier_type = l.identifier_type
        and r.identifier_value = l.identifier_value
        and l.record_rank < r.record_rank
),

-- which rules selected a pair, as bits (see int_identity_blocking_rules)
blocked as (
    {% for rule in rules -%}
    select rank_l, rank_r, {{ 2 ** (loop.index0) }} as rule_bit from rule_{{ loop.index }}_pairs
    union all
    {% endfor -%}
    {% for identifier_type in identifier_types -%}
    select rank_l, rank_r, {{ 2 ** (rules | length + loop.index0) }} from identifier_pairs
    where identifier_type = '{{ identifier_type }}'
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

pairs as (
    select
        rank_l,
        rank_r,
        bit_or(rule_bit) as blocking_mask
    from blocked
    group by rank_l, rank_r
),

final as (
    select
        pairs.rank_l as record_rank_l,
        pairs.rank_r as record_rank_r,
        pairs.blocking_mask,
        -- the strongest identifier the two records share (var identity_match_keys order)
        case
            {%- for identifier_type in identifier_types %}
            when pairs.blocking_mask & {{ 2 ** (rules | length + loop.index0) }} <> 0 then '{{ identifier_type }}'
            {%- endfor %}
        end as shared_identifier,
        -- the key of the pair's comparison levels (int_identity_pair_comparisons)
        l.comparison_fingerprint as comparison_fingerprint_l,
        r.comparison_fingerprint as comparison_fingerprint_r
    from pairs
    inner join records as l
        on l.record_rank = pairs.rank_l
    inner join records as r
        on r.record_rank = pairs.rank_r
    {%- if exclusive_systems %}
    -- records of one exclusive system are distinct people by declaration
    where not (
        l.source_system = r.source_system
        and l.source_system in ('{{ exclusive_systems | join("', '") }}')
    )
    {%- endif %}
)

select * from final
