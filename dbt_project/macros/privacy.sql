{#-
    The suppression list (source privacy.suppression_list, written by cdp.privacy):
    hashed identifiers of people the warehouse must not hold again. Staging
    anti-joins it, so a suppressed record, event or consent change never gets past
    staging even when a source sends it again (docs/privacy.md). Identifiers are
    hashed in their normalised form: the e-mail as normalise_email leaves it, the
    phone in E.164, a source record as '<system>:<id>'.
-#}

{#- Lower-case hex SHA-256 of a text expression. -#}
{% macro identifier_sha256(expression) -%}
    {{ return(adapter.dispatch('identifier_sha256', 'cdp_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__identifier_sha256(expression) -%}
    encode(sha256(convert_to({{ expression }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro duckdb__identifier_sha256(expression) -%}
    sha256({{ expression }})
{%- endmacro %}

{% macro spark__identifier_sha256(expression) -%}
    sha2({{ expression }}, 256)
{%- endmacro %}


{#- A source record as one identifier: '<source_system>:<source_customer_id>' (null if either is). -#}
{% macro source_record_key(source_system, source_customer_id) -%}
    ({{ source_system }} || ':' || {{ source_customer_id }})
{%- endmacro %}


{#- Join clause leaving out the rows whose identifier (an expression over already
    normalised columns) is suppressed; a null identifier never matches. `identifier_type`
    names the type; `type_expression` instead takes it from a column (uploaded lists). -#}
{% macro anti_join_suppressed(identifier_type, expression, alias=none, type_expression=none) -%}
    {%- set alias = alias or 'suppressed_' ~ identifier_type -%}
    anti join {{ source('privacy', 'suppression_list') }} as {{ alias }}
        on {{ alias }}.identifier_type = {{ type_expression or ("'" ~ identifier_type ~ "'") }}
        and {{ alias }}.identifier_sha256 = {{ identifier_sha256(expression) }}
{%- endmacro %}


{#- Anti joins for an e-mail column: its normalised form and its identity match key
    (Gmail without dots and +tags), so another spelling of a suppressed mailbox is caught too. -#}
{% macro anti_join_suppressed_email(expression, alias='suppressed_email') -%}
    {{ anti_join_suppressed('email', expression, alias) }}
    {{ anti_join_suppressed('email', email_match_key(expression), alias ~ '_match_key') }}
{%- endmacro %}


{#- Left join marking the rows whose identifier is suppressed: `<alias>.identifier_sha256`
    is not null for them. -#}
{% macro left_join_suppressed(identifier_type, expression, alias=none) -%}
    {%- set alias = alias or 'suppressed_' ~ identifier_type -%}
    left join {{ source('privacy', 'suppression_list') }} as {{ alias }}
        on {{ alias }}.identifier_type = '{{ identifier_type }}'
        and {{ alias }}.identifier_sha256 = {{ identifier_sha256(expression) }}
{%- endmacro %}
