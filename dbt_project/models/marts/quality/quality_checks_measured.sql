{{ config(materialized='ephemeral') }}

-- Every check of the run, counted, with the threshold it is held to: the check's own
-- (an attribute's in var data_quality), else its check name's (`checks`), else its
-- criterion's (`criteria`); and the margin below the threshold that still only warns.
{%- set settings = var('data_quality') %}
{%- set criteria = settings['criteria'] %}
{%- set check_settings = settings.get('checks') or {} %}

with

checks as (
    select * from {{ ref('quality_record_checks') }}
    union all
    select * from {{ ref('quality_load_checks') }}
    union all
    select * from {{ ref('quality_raw_checks') }}
    union all
    select * from {{ ref('quality_customer_checks') }}
),

final as (
    select
        source,
        criterion,
        check_name,
        attribute,
        checked,
        passed,
        measured_value,
        limit_value,
        coalesce(
            threshold,
            case check_name
                {%- for check_name, check in check_settings.items() if check.get('threshold') is not none %}
                when '{{ check_name }}' then {{ check['threshold'] }}
                {%- endfor %}
                else null
            end,
            case criterion
                {%- for criterion, levels in criteria.items() %}
                when '{{ criterion }}' then {{ levels['threshold'] }}
                {%- endfor %}
            end
        ) as threshold,
        coalesce(
            case check_name
                {%- for check_name, check in check_settings.items() if check.get('warn_margin') is not none %}
                when '{{ check_name }}' then {{ check['warn_margin'] }}
                {%- endfor %}
                else null
            end,
            case criterion
                {%- for criterion, levels in criteria.items() %}
                when '{{ criterion }}' then {{ levels['warn_margin'] }}
                {%- endfor %}
            end
        ) as warn_margin,
        detail
    from checks
)

select * from final
