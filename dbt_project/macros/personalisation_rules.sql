{#- Segments and offers are declared in YAML (the `meta` of their models'
    property files, docs/segments.md) with conditions in a small rule language:

      {field: product_views_24h, op: '>', value: 3}   a column of int_customer_profile
      {segment: vip_spenders}                         member of another segment
      {all: [condition, ...]}  {any: [...]}  {not: condition}

    Operators: = != > >= < <= in, not in (value: a list), between (value: [low, high]),
    is null, is not null (no value). validate_personalisation_rules() checks every
    definition when a dbt invocation starts (on-run-start), so a bad one fails
    before any SQL runs, naming the file, the definition and the field. -#}

{#- The model node that declares definitions under meta.<key>; none when absent. -#}
{% macro rules_node(model_name) -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == model_name -%}
        {{ return(node) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}


{#- "file <path>, <kind> '<name>', field '<path>': <problem>" -#}
{% macro rule_error(node, kind, name, field, problem) -%}
    {%- set path = (node.patch_path or node.original_file_path) | replace('cdp_warehouse://', 'dbt_project/') -%}
    {{ exceptions.raise_compiler_error(path ~ ", " ~ kind ~ " '" ~ name ~ "', field '" ~ field ~ "': " ~ problem) }}
{%- endmacro %}


{#- The columns rules may use: int_customer_profile's columns (its contract is
    enforced, so the documented columns are the real ones). -#}
{% macro rule_fields() -%}
    {%- set profile = rules_node('int_customer_profile') -%}
    {{ return(profile.columns.keys() | list if profile is not none else []) }}
{%- endmacro %}


{#- Raise on the first problem of one condition; `segments` are the names a
    {segment: ...} may refer to. -#}
{% macro validate_condition(condition, node, kind, name, path, fields, segments) -%}
    {%- set operators = ['=', '!=', '>', '>=', '<', '<=', 'in', 'not in', 'between', 'is null', 'is not null'] -%}
    {%- if condition is not mapping -%}
        {{ rule_error(node, kind, name, path, "a condition must be a mapping (field/op/value, segment, all, any or not), got " ~ condition | tojson) }}
    {%- endif -%}
    {%- set forms = ['field', 'segment', 'all', 'any', 'not'] | select('in', condition.keys()) | list -%}
    {%- if forms | length != 1 -%}
        {{ rule_error(node, kind, name, path, "a condition needs exactly one of field, segment, all, any, not; got keys " ~ condition.keys() | list | tojson) }}
    {%- endif -%}
    {%- set form = forms[0] -%}
    {%- if form in ['all', 'any'] -%}
        {%- if condition[form] is string or condition[form] is mapping or condition[form] is not iterable or condition[form] | length == 0 -%}
            {{ rule_error(node, kind, name, path ~ '.' ~ form, "must be a non-empty list of conditions") }}
        {%- endif -%}
        {%- for part in condition[form] -%}
            {{ validate_condition(part, node, kind, name, path ~ '.' ~ form ~ '[' ~ loop.index0 ~ ']', fields, segments) }}
        {%- endfor -%}
    {%- elif form == 'not' -%}
        {{ validate_condition(condition['not'], node, kind, name, path ~ '.not', fields, segments) }}
    {%- elif form == 'segment' -%}
        {%- if condition.segment not in segments -%}
            {{ rule_error(node, kind, name, path ~ '.segment', "unknown segment '" ~ condition.segment ~ "' (declared: " ~ segments | join(', ') ~ ")") }}
        {%- endif -%}
    {%- else -%}
        {%- set extra = condition.keys() | reject('in', ['field', 'op', 'value']) | list -%}
        {%- if extra -%}
            {{ rule_error(node, kind, name, path ~ '.' ~ extra[0], "unexpected key (a field condition has field, op, value)") }}
        {%- endif -%}
        {%- if condition.field not in fields -%}
            {{ rule_error(node, kind, name, path ~ '.field', "unknown field '" ~ condition.field ~ "' (int_customer_profile has: " ~ fields | join(', ') ~ ")") }}
        {%- endif -%}
        {%- if condition.op not in operators -%}
            {{ rule_error(node, kind, name, path ~ '.op', "unknown operator '" ~ condition.op ~ "' (one of: " ~ operators | join(', ') ~ ")") }}
        {%- endif -%}
        {%- set value = condition.get('value') -%}
        {%- if condition.op in ['is null', 'is not null'] -%}
            {%- if 'value' in condition -%}
                {{ rule_error(node, kind, name, path ~ '.value', "'" ~ condition.op ~ "' takes no value") }}
            {%- endif -%}
        {%- elif condition.op in ['in', 'not in', 'between'] -%}
            {%- if value is none or value is string or value is mapping or value is not iterable or value | length == 0
                    or (condition.op == 'between' and value | length != 2) -%}
                {{ rule_error(node, kind, name, path ~ '.value', "'" ~ condition.op ~ "' needs a list" ~ (" of two values [low, high]" if condition.op == 'between' else " of values")) }}
            {%- endif -%}
        {%- elif value is none or value is mapping or (value is iterable and value is not string) -%}
            {{ rule_error(node, kind, name, path ~ '.value', "'" ~ condition.op ~ "' needs one value (a number, text or true/false)") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#- A value as a SQL literal. -#}
{% macro rule_literal(value) -%}
    {%- if value is sameas true or value is sameas false -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ value | string | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}


{#- A validated condition as a SQL predicate over `profile` (int_customer_profile);
    {segment: x} reads the CTE segment_members__x. -#}
{% macro compile_condition(condition) -%}
    {%- if 'all' in condition or 'any' in condition -%}
        {%- set joiner = ' and ' if 'all' in condition else ' or ' -%}
        ({% for part in condition.get('all', condition.get('any')) %}{{ compile_condition(part) }}{{ joiner if not loop.last }}{% endfor %})
    {%- elif 'not' in condition -%}
        (not coalesce({{ compile_condition(condition['not']) }}, false))
    {%- elif 'segment' in condition -%}
        (profile.customer_id in (select customer_id from segment_members__{{ condition.segment }}))
    {%- elif condition.op in ['is null', 'is not null'] -%}
        (profile.{{ condition.field }} {{ condition.op }})
    {%- elif condition.op in ['in', 'not in'] -%}
        (profile.{{ condition.field }} {{ condition.op }} ({% for v in condition.value %}{{ rule_literal(v) }}{{ ', ' if not loop.last }}{% endfor %}))
    {%- elif condition.op == 'between' -%}
        (profile.{{ condition.field }} between {{ rule_literal(condition.value[0]) }} and {{ rule_literal(condition.value[1]) }})
    {%- else -%}
        (profile.{{ condition.field }} {{ condition.op }} {{ rule_literal(condition.value) }})
    {%- endif -%}
{%- endmacro %}


{#- The segments referred to anywhere in a condition. -#}
{% macro condition_segments(condition) -%}
    {%- set found = [] -%}
    {%- if condition is mapping -%}
        {%- if 'segment' in condition -%}{%- do found.append(condition.segment) -%}{%- endif -%}
        {%- for part in condition.get('all', []) + condition.get('any', []) -%}
            {%- do found.extend(condition_segments(part)) -%}
        {%- endfor -%}
        {%- if 'not' in condition -%}{%- do found.extend(condition_segments(condition['not'])) -%}{%- endif -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}


{#- The segment definitions (meta.segments of int_segment_definitions, models/personalisation/segments.yml), validated
    and in dependency order: a segment comes after the segments its rule refers to. -#}
{% macro segment_definitions() -%}
    {%- set node = rules_node('int_segment_definitions') -%}
    {%- set declared = (node.config.meta.get('segments') if node is not none else none) or [] -%}
    {%- set fields = rule_fields() -%}
    {%- set names = [] -%}
    {%- for segment in declared -%}
        {%- set label = segment.get('name', '#' ~ loop.index) if segment is mapping else '#' ~ loop.index -%}
        {%- if segment is not mapping -%}
            {{ rule_error(node, 'segment', label, 'name', 'a segment must be a mapping with name, description, owner, type and rule or list') }}
        {%- endif -%}
        {%- for key in ['name', 'description', 'owner'] if not segment.get(key) -%}
            {{ rule_error(node, 'segment', label, key, 'required') }}
        {%- endfor -%}
        {%- if not modules.re.match('^[a-z][a-z0-9_]*$', segment.name | string) -%}
            {{ rule_error(node, 'segment', label, 'name', 'use lower-case letters, digits and _ (it becomes a column value and a CTE name)') }}
        {%- endif -%}
        {%- if segment.name in names -%}
            {{ rule_error(node, 'segment', label, 'name', 'declared twice') }}
        {%- endif -%}
        {%- do names.append(segment.name) -%}
        {%- set extra = segment.keys() | reject('in', ['name', 'description', 'owner', 'type', 'rule', 'list']) | list -%}
        {%- if extra -%}
            {{ rule_error(node, 'segment', label, extra[0], 'unexpected key (allowed: name, description, owner, type, rule, list)') }}
        {%- endif -%}
        {%- set type = segment.get('type', 'dynamic') -%}
        {%- if type not in ['dynamic', 'static'] -%}
            {{ rule_error(node, 'segment', label, 'type', "must be dynamic or static, got '" ~ type ~ "'") }}
        {%- elif type == 'dynamic' and ('rule' not in segment or 'list' in segment) -%}
            {{ rule_error(node, 'segment', label, 'rule' if 'rule' not in segment else 'list', 'a dynamic segment has a rule and no list') }}
        {%- elif type == 'static' and ('list' not in segment or 'rule' in segment) -%}
            {{ rule_error(node, 'segment', label, 'list' if 'list' not in segment else 'rule', 'a static segment has a list (list_name of landing/segment_lists) and no rule') }}
        {%- endif -%}
    {%- endfor -%}
    {%- for segment in declared if 'rule' in segment -%}
        {{ validate_condition(segment.rule, node, 'segment', segment.name, 'rule', fields, names) }}
    {%- endfor -%}
    {#- dependency order; what cannot be placed is a cycle -#}
    {%- set ordered = [] -%}
    {%- set placed = [] -%}
    {%- for _ in declared -%}
        {%- for segment in declared if segment.name not in placed -%}
            {%- set needs = condition_segments(segment.get('rule')) -%}
            {%- if needs | reject('in', placed) | list | length == 0 -%}
                {%- do ordered.append(segment) -%}
                {%- do placed.append(segment.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for segment in declared if segment.name not in placed -%}
        {{ rule_error(node, 'segment', segment.name, 'rule', 'refers to itself through other segments: ' ~ condition_segments(segment.rule) | join(', ')) }}
    {%- endfor -%}
    {{ return(ordered) }}
{%- endmacro %}


{#- on-run-start: validate every declared segment and offer before anything runs. -#}
{% macro validate_personalisation_rules() -%}
    {%- if execute -%}
        {%- do segment_definitions() -%}
        {%- do offer_definitions() -%}
    {%- endif -%}
{%- endmacro %}


{#- The profile columns a condition reads, in order of appearance, including those of
    the rules of segments it refers to (`segments`: name -> definition). -#}
{% macro condition_fields(condition, segments={}) -%}
    {%- set found = [] -%}
    {%- if condition is mapping -%}
        {%- if 'field' in condition and condition.field not in found -%}{%- do found.append(condition.field) -%}{%- endif -%}
        {%- set parts = condition.get('all', []) + condition.get('any', []) + ([condition['not']] if 'not' in condition else []) -%}
        {%- if 'segment' in condition and condition.segment in segments -%}
            {%- do parts.append(segments[condition.segment].get('rule')) -%}
        {%- endif -%}
        {%- for part in parts -%}
            {%- for field in condition_fields(part, segments) if field not in found -%}{%- do found.append(field) -%}{%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}


{#- The offer rules (meta.offers of int_offer_definitions, models/personalisation/offers.yml),
    validated, in priority order (1 first; ties by name). -#}
{% macro offer_definitions() -%}
    {%- set node = rules_node('int_offer_definitions') -%}
    {%- set declared = (node.config.meta.get('offers') if node is not none else none) or [] -%}
    {%- set fields = rule_fields() -%}
    {%- set segments = segment_definitions() | map(attribute='name') | list -%}
    {%- set names = [] -%}
    {%- for offer in declared -%}
        {%- set label = offer.get('name', '#' ~ loop.index) if offer is mapping else '#' ~ loop.index -%}
        {%- if offer is not mapping -%}
            {{ rule_error(node, 'offer', label, 'name', 'an offer must be a mapping with name, description, owner, priority and rule') }}
        {%- endif -%}
        {%- for key in ['name', 'description', 'owner', 'priority', 'rule'] if offer.get(key) is none -%}
            {{ rule_error(node, 'offer', label, key, 'required') }}
        {%- endfor -%}
        {%- if not modules.re.match('^[a-z][a-z0-9_]*$', offer.name | string) -%}
            {{ rule_error(node, 'offer', label, 'name', 'use lower-case letters, digits and _') }}
        {%- endif -%}
        {%- if offer.name in names -%}
            {{ rule_error(node, 'offer', label, 'name', 'declared twice') }}
        {%- endif -%}
        {%- do names.append(offer.name) -%}
        {%- set extra = offer.keys() | reject('in', ['name', 'description', 'owner', 'priority', 'rule', 'exclude', 'cooldown_days', 'detail']) | list -%}
        {%- if extra -%}
            {{ rule_error(node, 'offer', label, extra[0], 'unexpected key (allowed: name, description, owner, priority, rule, exclude, cooldown_days, detail)') }}
        {%- endif -%}
        {%- if offer.priority is not number or offer.priority is sameas true or offer.priority is sameas false or offer.priority < 1 or offer.priority != (offer.priority | int) -%}
            {{ rule_error(node, 'offer', label, 'priority', 'a whole number from 1 (considered first)') }}
        {%- endif -%}
        {%- set cooldown = offer.get('cooldown_days', 0) -%}
        {%- if cooldown is not number or cooldown is sameas true or cooldown is sameas false or cooldown < 0 or cooldown != (cooldown | int) -%}
            {{ rule_error(node, 'offer', label, 'cooldown_days', 'a whole number of days, 0 or more') }}
        {%- endif -%}
        {%- if 'detail' in offer and offer.detail not in fields -%}
            {{ rule_error(node, 'offer', label, 'detail', "unknown field '" ~ offer.detail ~ "' (int_customer_profile has: " ~ fields | join(', ') ~ ")") }}
        {%- endif -%}
        {{ validate_condition(offer.rule, node, 'offer', offer.name, 'rule', fields, segments) }}
        {%- if 'exclude' in offer -%}
            {{ validate_condition(offer.exclude, node, 'offer', offer.name, 'exclude', fields, segments) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(declared | sort(attribute='name') | sort(attribute='priority')) }}
{%- endmacro %}
