{%- set record_columns = [
    'first_name_key', 'first_name_canonical', 'first_name_initial', 'last_name_key', 'last_name_initial', 'birth_date', 'postcode_key',
    'street_key', 'city_key', 'email_key', 'email_local_part', 'phone', 'loyalty_id',
] -%}
{%- set rules = validated_blocking_rules(record_columns) -%}
{%- set max_block_size = var('identity_max_block_size') | int -%}
{%- set exclusive_systems = var('identity_exclusive_source_systems') -%}


-- Candidate pairs: records that share a linking identifier (e-mail, phone,
-- loyalty id) or agree on every column of a blocking rule, with the level of
-- agreement of each comparison. Blocking keeps this far below all pairs.
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
        l.customer_record_id as record_id_l,
        r.customer_record_id as record_id_r
    from rule_{{ loop.index }}_records as l
    inner join rule_{{ loop.index }}_records as r
        on {{ blocking_rule_condition(rule) }}
        and l.customer_record_id < r.customer_record_id
),
{%- else %}
rule_{{ loop.index }}_pairs as (
    select distinct
        least(l.customer_record_id, r.customer_record_id) as record_id_l,
        greatest(l.customer_record_id, r.customer_record_id) as record_id_r
    from records as l
    inner join records as r
        on {{ blocking_rule_condition(rule) }}
        and l.customer_record_id <> r.customer_record_id
),
{%- endif %}
{% endfor %}

identifier_pairs as (
    select
        l.customer_record_id as record_id_l,
        r.customer_record_id as record_id_r,
        l.identifier_type
    from identifiers as l
    inner join identifiers as r
        on r.identifier_type = l.identifier_type
        and r.identifier_value = l.identifier_value
        and l.customer_record_id < r.customer_record_id
),

blocked as (
    {% for rule in rules -%}
    select record_id_l, record_id_r, '{{ rule.name }}' as blocked_by from rule_{{ loop.index }}_pairs
    union all
    {% endfor -%}
    select record_id_l, record_id_r, 'shared_' || identifier_type as blocked_by from identifier_pairs
),

pairs as (
    select
        record_id_l,
        record_id_r,
        list(blocked_by order by blocked_by) as blocked_by
    from blocked
    group by record_id_l, record_id_r
),

final as (
    select
        pairs.record_id_l,
        pairs.record_id_r,
        l.record_rank as record_rank_l,
        r.record_rank as record_rank_r,
        l.source_system as source_system_l,
        r.source_system as source_system_r,
        pairs.blocked_by,
        list_transform(
            list_filter(pairs.blocked_by, lambda rule: starts_with(rule, 'shared_')), lambda rule: substr(rule, 8)
        ) as shared_identifiers,
        {%- for comparison in identity_comparisons() if comparison.term_frequency %}
        -- how common the agreed value is (used when the comparison is exact)
        case when l.{{ comparison.term_frequency }} = r.{{ comparison.term_frequency }}
            then l.{{ comparison.term_frequency }}_frequency
        end as term_frequency_{{ comparison.name }},
        {%- endfor %}
        {%- for comparison in identity_comparisons() %}
        {{ comparison_level(comparison) }} as gamma_{{ comparison.name }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from pairs
    inner join records as l
        on l.customer_record_id = pairs.record_id_l
    inner join records as r
        on r.customer_record_id = pairs.record_id_r
    {%- if exclusive_systems %}
    -- records of one exclusive system are distinct people by declaration
    where not (
        l.source_system = r.source_system
        and l.source_system in ('{{ exclusive_systems | join("', '") }}')
    )
    {%- endif %}
)

select * from final
