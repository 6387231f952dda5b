{#-
    Value normalisation shared by the staging models. Each macro returns one SQL
    expression. Junk placeholders ('unknown', 'n/a', 'test@test.com', ...) live in
    the junk_values seed; models import it as a CTE named junk_values.
-#}

{#- Trimmed text with inner whitespace collapsed; empty -> null. -#}
{% macro clean_text(expression) -%}
    nullif(trim({{ regexp_replace_all(expression, '\s+', ' ') }}), '')
{%- endmacro %}


{#- Null when the (already cleaned) value is a junk placeholder for this field or any field. -#}
{% macro null_if_junk(expression, field, junk_relation='junk_values') -%}
    case
        when lower({{ expression }}) in (
            select junk_value from {{ junk_relation }} where field in ('any', '{{ field }}')
        ) then null
        else {{ expression }}
    end
{%- endmacro %}


{#- Cleaned text, junk placeholders nulled. -#}
{% macro clean_value(expression, field, junk_relation='junk_values') -%}
    {{ null_if_junk(clean_text(expression), field, junk_relation) }}
{%- endmacro %}


{#- Lower-case enum value (status, event type, channel); empty -> null. -#}
{% macro clean_enum(expression) -%}
    nullif(lower(trim({{ expression }})), '')
{%- endmacro %}


{#- Email: whitespace removed, lower-cased; null unless it looks like an address
    (local@domain.tld) and is neither a junk address nor on a junk domain. -#}
{% macro normalise_email(expression, junk_relation='junk_values') -%}
    {%- set email = 'lower(' ~ regexp_replace_all(expression, '\s+', '') ~ ')' -%}
    {%- set pattern = "[a-z0-9!#$%&'*+/=?^_{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_{|}~-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}" -%}
    case
        when {{ regexp_full_match(email, pattern) }}
            and {{ email }} not in (
                select junk_value from {{ junk_relation }} where field in ('any', 'email')
            )
            and {{ dbt.split_part(email, "'@'", 2) }} not in (
                select junk_value from {{ junk_relation }} where field = 'email_domain'
            )
            then {{ email }}
    end
{%- endmacro %}


{#- Validity flag of a normalised value: null when nothing was sent, else whether it survived. -#}
{% macro is_valid(original, normalised) -%}
    case
        when nullif(trim({{ original }}), '') is null then null
        else {{ normalised }} is not null
    end
{%- endmacro %}


{#- Digits of a phone number, extension and a "(0)" trunk hint removed; null when none. -#}
{% macro phone_digits(expression) -%}
    nullif(
        {{ regexp_replace_all(
            "replace(" ~ regexp_replace_all(expression, '(?i)\s*(ext\.?|extension|x|#)\s*[0-9]+\s*$', '') ~ ", '(0)', '')",
            '[^0-9]', ''
        ) }},
        ''
    )
{%- endmacro %}


{#- Whether a phone number was written with a leading '+'. -#}
{% macro phone_has_plus(expression) -%}
    (trim(leading '(' from trim({{ expression }})) like '+%')
{%- endmacro %}


{#-
    E.164 ('+' and 8-15 digits) from the digits of a phone number and the telephone
    facts of the record's country (country_codes seed). The number is read as
      1. international when written with '+' (a national trunk 0 after the
         country's own calling code, '+44 07911...', is dropped),
      2. international after the country's international prefix ('00', '011'),
      3. national after the trunk prefix ('0', or '1' in NANP),
      4. international without '+' when it starts with the calling code and the
         rest has a national length,
      5. national without trunk prefix when it has a national length.
    Null when none applies, the result is no E.164 number, all digits are the same
    or the digits are a junk placeholder.
-#}
{% macro phone_to_e164(digits, has_plus, calling_code, trunk_prefix, international_prefix,
                       min_length, max_length, junk_relation='junk_values') -%}
    {%- set national_length_after = "length(" ~ digits ~ ") - length({}) between " ~ min_length ~ " and " ~ max_length -%}
    {%- set international_digits -%}
        case
            when {{ has_plus }} and {{ trunk_prefix }} = '0'
                and {{ digits }} like {{ calling_code }} || '0%'
                and length({{ digits }}) - length({{ calling_code }}) - 1 between {{ min_length }} and {{ max_length }}
                then {{ calling_code }} || substr({{ digits }}, length({{ calling_code }}) + 2)
            when {{ has_plus }}
                then {{ digits }}
            when {{ international_prefix }} <> '' and {{ digits }} like {{ international_prefix }} || '%'
                then substr({{ digits }}, length({{ international_prefix }}) + 1)
            when {{ trunk_prefix }} <> '' and {{ digits }} like {{ trunk_prefix }} || '%'
                and {{ national_length_after.format(trunk_prefix) }}
                then {{ calling_code }} || substr({{ digits }}, length({{ trunk_prefix }}) + 1)
            when {{ digits }} like {{ calling_code }} || '%'
                and {{ national_length_after.format(calling_code) }}
                then {{ digits }}
            when length({{ digits }}) between {{ min_length }} and {{ max_length }}
                then {{ calling_code }} || {{ digits }}
        end
    {%- endset -%}
    case
        when {{ digits }} in (select junk_value from {{ junk_relation }} where field in ('any', 'phone'))
            then null
        when replace({{ digits }}, substr({{ digits }}, 1, 1), '') = ''
            then null
        when {{ regexp_full_match(international_digits, '[1-9][0-9]{7,14}') }}
            then '+' || {{ international_digits }}
    end
{%- endmacro %}


{#- Key for the country_aliases seed: lower-case, no dots, single spaces. -#}
{% macro country_alias_key(expression) -%}
    nullif(trim({{ regexp_replace_all(regexp_replace_all('lower(' ~ expression ~ ')', '\.', ''), '\s+', ' ') }}), '')
{%- endmacro %}


{#- Names: cleaned; written all upper or all lower case -> capitalised words;
    mixed case (McDonald, van der Berg) is kept as sent. -#}
{% macro proper_case(expression) -%}
    case
        when {{ expression }} = upper({{ expression }}) or {{ expression }} = lower({{ expression }})
            then {{ initcap(expression) }}
        else {{ expression }}
    end
{%- endmacro %}


{#- female | male | other; anything else null. -#}
{% macro normalise_gender(expression) -%}
    case
        when lower(trim({{ expression }})) in ('f', 'female', 'w', 'woman', 'frau', 'femme', 'vrouw')
            then 'female'
        when lower(trim({{ expression }})) in ('m', 'male', 'man', 'mann', 'homme')
            then 'male'
        when lower(trim({{ expression }})) in ('o', 'other', 'x', 'd', 'diverse', 'divers', 'non-binary', 'nonbinary')
            then 'other'
    end
{%- endmacro %}


{#- ISO-639-1 language code from 'en', 'EN', 'en-GB', 'en_US'; else null. -#}
{% macro normalise_language(expression) -%}
    case
        when {{ regexp_full_match('lower(trim(' ~ expression ~ '))', '[a-z]{2}([-_][a-z0-9]+)*') }}
            then lower(substr(trim({{ expression }}), 1, 2))
    end
{%- endmacro %}


{#- Loyalty card number: upper-case, spaces and hyphens removed; all zeros or junk -> null. -#}
{% macro normalise_loyalty_id(expression, junk_relation='junk_values') -%}
    {%- set compact = 'upper(' ~ regexp_replace_all(expression, '[\s-]+', '') ~ ')' -%}
    case
        when nullif({{ compact }}, '') is null then null
        when replace({{ compact }}, '0', '') = '' then null
        when lower({{ compact }}) in (
            select junk_value from {{ junk_relation }} where field in ('any', 'loyalty_id')
        ) then null
        else {{ compact }}
    end
{%- endmacro %}


{#- The rows of `relation` with the parts phone_to_e164 needs for `phone`, read with
    var default_country: for sources that carry a phone but no country (erasure
    requests, uploaded segment lists). -#}
{% macro phone_parts_in_default_country(relation, phone) -%}
    select
        {{ relation }}.*,
        {{ phone_digits(phone) }} as phone_digits,
        {{ phone_has_plus(phone) }} as phone_has_plus,
        country_codes.calling_code,
        country_codes.trunk_prefix,
        country_codes.international_prefix,
        country_codes.min_national_number_length,
        country_codes.max_national_number_length
    from {{ relation }}
    left join {{ ref('country_codes') }} as country_codes
        on country_codes.country_code = '{{ var("default_country") }}'
{%- endmacro %}
