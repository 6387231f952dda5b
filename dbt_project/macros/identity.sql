{#- Email as an identity key: Gmail ignores dots and '+tags' in the local part and
    treats googlemail.com as gmail.com, so those spellings are one mailbox. Other
    providers are taken as written. -#}
{% macro email_match_key(email) -%}
    case
        when {{ dbt.split_part(email, "'@'", 2) }} in ('gmail.com', 'googlemail.com')
            then replace({{ dbt.split_part(dbt.split_part(email, "'@'", 1), "'+'", 1) }}, '.', '') || '@gmail.com'
        else {{ email }}
    end
{%- endmacro %}
