{#-
    Personal data masked on the dev_masked target (profiles.yml, docs/reliability.md); on every other
    target the expression comes back unchanged. Staging calls this once per personal column, after its
    suppression anti-joins, so everything built from staging (identity, golden record, marts) holds masks.

    A mask is a hash of the value, so equal values get equal masks: identity resolution still links records
    that share an e-mail (by its match key), phone, name, street, postcode or birth date. What needs the real
    spelling does not survive: nicknames, typos, phonetic names and initials (the initial of a masked name is
    random), so a masked build links fewer records than production. Set CDP_MASK_SALT to key the hash, so that nobody can
    confirm a guessed value by hashing it.

    kind: email | phone | name | street | postcode | birth_date, or identifier with type_expression naming
    the identifier's type (an e-mail or phone is masked as such, any other identifier is left alone).
-#}
{% macro mask_personal(expression, kind, type_expression=none) -%}
    {%- if target.name != 'dev_masked' -%}
        {{ expression }}
    {%- elif kind == 'identifier' -%}
        case {{ type_expression }}
            when 'email' then {{ mask_personal(expression, 'email') }}
            when 'phone' then {{ mask_personal(expression, 'phone') }}
            else {{ expression }}
        end
    {%- else -%}
        {#- an e-mail's match key (Gmail dots and +tags dropped): addresses identity treats as one stay one -#}
        {%- set value = email_match_key(expression) if kind == 'email' else expression -%}
        {%- set digest = dbt.hash(dbt.concat([
            sql_string(env_var('CDP_MASK_SALT', '')), 'cast(' ~ value ~ ' as ' ~ dbt.type_string() ~ ')'
        ])) -%}
        {#- the hash's hex digits read as decimal digits, or as letters (a name's match keys keep letters only) -#}
        {%- set digits = "translate(" ~ digest ~ ", 'abcdef', '012345')" -%}
        {%- set letters = "translate(" ~ digest ~ ", '0123456789', 'ghijklmnop')" -%}
        {%- if kind == 'email' -%}
            {{ dbt.concat(["'masked.'", 'substr(' ~ digest ~ ', 1, 12)', "'@example.invalid'"]) }}
        {%- elif kind == 'phone' -%}
            {#- E.164 of the same length under +99, a calling code no country has -#}
            {{ dbt.concat(["'+99'", 'substr(' ~ digits ~ ', 1, ' ~ dbt.length(expression) ~ ' - 3)']) }}
        {%- elif kind == 'name' -%}
            {{ dbt.concat(['upper(substr(' ~ letters ~ ', 1, 1))', 'substr(' ~ letters ~ ', 2, 7)']) }}
        {%- elif kind == 'street' -%}
            {{ dbt.concat(['substr(' ~ digits ~ ', 1, 2)', "' Masked Street '", 'substr(' ~ digest ~ ', 3, 6)']) }}
        {%- elif kind == 'postcode' -%}
            upper(substr({{ digest }}, 1, 6))
        {%- elif kind == 'birth_date' -%}
            {#- shifted by up to half a year either way: ages stay about right -#}
            cast({{ dbt.dateadd('day', '(cast(substr(' ~ digits ~ ', 1, 3) as integer) - 500) % 181', expression) }}
                as date)
        {%- else -%}
            {{ exceptions.raise_compiler_error("mask_personal: unknown kind '" ~ kind ~ "'") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
