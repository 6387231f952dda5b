{#-
    Golden record survivorship (models/intermediate/golden). The attributes a
    customer's golden record holds, and the rule each one survives by, read from
    the var `survivorship` and checked at compile time.
-#}

{#- The attributes of the golden record, in dim_customers column order. data_type
    is the column's type; is_personal: removed for erased customers. -#}
{% macro golden_record_attributes() -%}
    {{ return([
        {'name': 'email', 'data_type': 'string', 'is_personal': true},
        {'name': 'phone', 'data_type': 'string', 'is_personal': true},
        {'name': 'first_name', 'data_type': 'string', 'is_personal': true},
        {'name': 'last_name', 'data_type': 'string', 'is_personal': true},
        {'name': 'gender', 'data_type': 'string', 'is_personal': true},
        {'name': 'street', 'data_type': 'string', 'is_personal': true},
        {'name': 'city', 'data_type': 'string', 'is_personal': true},
        {'name': 'postcode', 'data_type': 'string', 'is_personal': true},
        {'name': 'state', 'data_type': 'string', 'is_personal': true},
        {'name': 'loyalty_id', 'data_type': 'string', 'is_personal': true},
        {'name': 'country_code', 'data_type': 'string', 'is_personal': false},
        {'name': 'language_code', 'data_type': 'string', 'is_personal': false},
        {'name': 'birth_date', 'data_type': 'date', 'is_personal': true},
    ]) }}
{%- endmacro %}


{#- Names of the golden record's personal attributes. -#}
{% macro golden_record_personal_attributes() -%}
    {{ return(golden_record_attributes() | selectattr('is_personal') | map(attribute='name') | list) }}
{%- endmacro %}


{#- A text value of the long format cast back to the attribute's type. -#}
{% macro golden_record_cast(expression, data_type) -%}
    {%- if data_type == 'date' -%}
        cast({{ expression }} as date)
    {%- else -%}
        cast({{ expression }} as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}


{#- The rules a survivorship entry may name. -#}
{% macro survivorship_rules() -%}
    {{ return(['source_priority', 'most_recent', 'most_frequent', 'most_complete']) }}
{%- endmacro %}


{#-
    The survivorship units from var `survivorship`, validated: one per group
    (its attributes survive together, from one record) and one per attribute
    outside a group. Each is {name, attributes, rule, source_priority}. Anything
    the var gets wrong fails compilation, naming the var, the entry and the field.
-#}
{% macro survivorship_units() -%}
    {%- set config = var('survivorship') -%}
    {%- set known_attributes = golden_record_attributes() | map(attribute='name') | list -%}
    {%- if config is not mapping -%}
        {{ exceptions.raise_compiler_error("var survivorship must be a mapping with default, groups and attributes") }}
    {%- endif -%}
    {%- for key in config if key not in ['default', 'groups', 'attributes'] -%}
        {{ exceptions.raise_compiler_error(
            "var survivorship: unknown key '" ~ key ~ "' (expected default, groups, attributes)") }}
    {%- endfor -%}

    {%- set groups = config.get('groups') or {} -%}
    {%- if groups is not mapping -%}
        {{ exceptions.raise_compiler_error("var survivorship: groups must map a group name to a list of attributes") }}
    {%- endif -%}
    {%- set group_of = {} -%}
    {%- for group, members in groups.items() -%}
        {%- if not modules.re.match('^[a-z_][a-z0-9_]*$', group | string) -%}
            {{ exceptions.raise_compiler_error(
                "var survivorship: group name '" ~ group ~ "' must be lower-case letters, digits and underscores") }}
        {%- endif -%}
        {%- if group in known_attributes -%}
            {{ exceptions.raise_compiler_error(
                "var survivorship: group '" ~ group ~ "' has the name of an attribute; choose another name") }}
        {%- endif -%}
        {%- if members is string or members is not sequence or members | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "var survivorship: groups." ~ group ~ " must be a non-empty list of attributes") }}
        {%- endif -%}
        {%- for member in members -%}
            {%- if member not in known_attributes -%}
                {{ exceptions.raise_compiler_error(
                    "var survivorship: groups." ~ group ~ " names unknown attribute '" ~ member
                    ~ "' (attributes: " ~ known_attributes | join(', ') ~ ")") }}
            {%- endif -%}
            {%- if member in group_of -%}
                {{ exceptions.raise_compiler_error(
                    "var survivorship: attribute '" ~ member ~ "' is in groups." ~ group_of[member]
                    ~ " and groups." ~ group ~ "; an attribute survives in one group at most") }}
            {%- endif -%}
            {%- do group_of.update({member: group}) -%}
        {%- endfor -%}
    {%- endfor -%}

    {%- set default = survivorship_entry(config.get('default'), 'default') -%}
    {%- set overrides = config.get('attributes') or {} -%}
    {%- if overrides is not mapping -%}
        {{ exceptions.raise_compiler_error("var survivorship: attributes must map an attribute or group to its rule") }}
    {%- endif -%}
    {%- for name in overrides -%}
        {%- if name in group_of -%}
            {{ exceptions.raise_compiler_error(
                "var survivorship: attributes." ~ name ~ " survives with groups." ~ group_of[name]
                ~ "; set the rule on attributes." ~ group_of[name]) }}
        {%- elif name not in known_attributes and name not in groups -%}
            {{ exceptions.raise_compiler_error(
                "var survivorship: attributes." ~ name ~ " is neither an attribute nor a group (attributes: "
                ~ known_attributes | join(', ') ~ "; groups: " ~ (groups.keys() | list | join(', ') or 'none') ~ ")") }}
        {%- endif -%}
    {%- endfor -%}

    {%- set units = [] -%}
    {%- for group, members in groups.items() -%}
        {%- set entry = survivorship_entry(overrides[group], 'attributes.' ~ group) if group in overrides else default -%}
        {%- do units.append({'name': group, 'attributes': members | list, 'rule': entry.rule,
                             'source_priority': entry.source_priority}) -%}
    {%- endfor -%}
    {%- for attribute in known_attributes if attribute not in group_of -%}
        {%- set entry = survivorship_entry(overrides[attribute], 'attributes.' ~ attribute) if attribute in overrides else default -%}
        {%- do units.append({'name': attribute, 'attributes': [attribute], 'rule': entry.rule,
                             'source_priority': entry.source_priority}) -%}
    {%- endfor -%}
    {{ return(units) }}
{%- endmacro %}


{#- One validated entry {rule, source_priority} of var survivorship; path names it in errors. -#}
{% macro survivorship_entry(entry, path) -%}
    {%- set rules = survivorship_rules() -%}
    {%- if entry is not mapping -%}
        {{ exceptions.raise_compiler_error(
            "var survivorship: " ~ path ~ " must be a mapping like {rule: most_recent}") }}
    {%- endif -%}
    {%- for field in entry if field not in ['rule', 'source_priority'] -%}
        {{ exceptions.raise_compiler_error(
            "var survivorship: " ~ path ~ "." ~ field ~ " is not a field (rule, source_priority)") }}
    {%- endfor -%}
    {%- if entry.get('rule') not in rules -%}
        {{ exceptions.raise_compiler_error(
            "var survivorship: " ~ path ~ ".rule '" ~ entry.get('rule') ~ "' is not a rule (" ~ rules | join(', ') ~ ")") }}
    {%- endif -%}
    {%- set priority = entry.get('source_priority') -%}
    {%- if entry.rule == 'source_priority' -%}
        {%- if priority is none or priority is string or priority is not sequence or priority | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "var survivorship: " ~ path ~ ".source_priority must list source systems, first wins (rule source_priority)") }}
        {%- endif -%}
        {%- for system in priority if system is not string -%}
            {{ exceptions.raise_compiler_error(
                "var survivorship: " ~ path ~ ".source_priority must list source system names, got " ~ system) }}
        {%- endfor -%}
    {%- elif priority is not none -%}
        {{ exceptions.raise_compiler_error(
            "var survivorship: " ~ path ~ ".source_priority is only read by rule source_priority (rule is "
            ~ entry.rule ~ ")") }}
    {%- endif -%}
    {{ return({'rule': entry.rule, 'source_priority': (priority or []) | map('lower') | list}) }}
{%- endmacro %}


{#- A golden record attribute as shown: personal ones null when the erased relation
    holds the customer. -#}
{% macro masked_if_erased(attribute, golden_relation, erased_relation) -%}
    {%- if attribute.is_personal -%}
        case when {{ erased_relation }}.customer_id is null then {{ golden_relation }}.{{ attribute.name }} end
    {%- else -%}
        {{ golden_relation }}.{{ attribute.name }}
    {%- endif -%}
{%- endmacro %}


{#- How many of the columns hold a value. -#}
{% macro filled_count(columns) -%}
    (
        {%- for column in columns -%}
        case when {{ column }} is not null then 1 else 0 end{% if not loop.last %} + {% endif %}
        {%- endfor -%}
    )
{%- endmacro %}

{#- After an incremental build of int_customer_attribute_candidates_ranked: the rows of records
    whose (customer, fingerprint) is no longer current (docs/incremental.md). -#}
{% macro delete_stale_attribute_candidates() -%}
    {%- if execute and this is not none and is_incremental() -%}
    delete from {{ this }}
    where (customer_record_id, customer_id, record_fingerprint) not in (
        select customer_record_id, customer_id, record_fingerprint
        from {{ ref('int_customer_record_fingerprints') }}
    )
    {%- endif -%}
{%- endmacro %}


{#- post_hook of customer_attribute_lineage: a customer whose candidates all went (their
    records left or merged into another customer) has no rows to replace them with. -#}
{% macro delete_lineage_of_customers_without_candidates() -%}
    {%- if execute and this is not none and is_incremental() -%}
    delete from {{ this }}
    where customer_id not in (
        select customer_id from {{ ref('int_customer_attribute_candidates_ranked') }}
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
