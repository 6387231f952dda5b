-- The blocking rules and shared identifiers of this run, and the bit each sets in
-- int_identity_blocked_pairs.blocking_mask.
{%- set rules = var('identity_blocking_rules') -%}
{%- set identifier_types = var('identity_match_keys') %}

select * from (
    values
    {%- for rule in rules %}
    ({{ 2 ** loop.index0 }}, '{{ rule.name }}', '{{ blocking_rule_columns(rule) | join(", ") }}'),
    {%- endfor %}
    {%- for identifier_type in identifier_types %}
    ({{ 2 ** (rules | length + loop.index0) }}, 'shared_{{ identifier_type }}', '{{ identifier_type }}'){% if not loop.last %},{% endif %}
    {%- endfor %}
) as rules (rule_bit, rule_name, rule_columns)
