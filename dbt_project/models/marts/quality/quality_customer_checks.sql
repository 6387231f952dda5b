{{ config(materialized='ephemeral') }}

-- Checks that need identity resolution, on the customer records as of the run, per
-- source system.
-- <attribute>_conflicts_across_sources (consistency): of a system's records whose
-- customer has records in other systems holding the attribute, the share whose value
-- at least one other system confirms. Where crm and pos agree and the web shop
-- differs, only the web shop's record fails; where two systems differ, both do.
-- Values are compared as staging normalised them (e-mail, E.164 phone, ...), ignoring
-- case and spaces: 'de Boer' and 'De Boer', 'QX1 1QQ' and 'QX11QQ' agree.
-- duplicate_persons (uniqueness): records of one system that are one customer
-- (the same person registered twice); passed counts one record per customer.
{%- set settings = var('data_quality')['sources']['customers'] %}
{%- set consistency = settings.get('consistency') or {} %}

with

customers as (
    select * from {{ ref('stg_landing__customers') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

records as (
    select
        customer_records.customer_id,
        customer_records.customer_record_id,
        customer_records.source_system,
        {% if settings.get('source_systems') -%}
        'customers:' || customer_records.source_system
        {%- else -%}
        'customers'
        {%- endif %} as source
        {%- for attribute in consistency %},
        customers.{{ attribute }}
        {%- endfor %}
    from customer_records
    inner join customers
        on customers.customer_record_id = customer_records.customer_record_id
),

{% if consistency -%}
attribute_values as (
    {%- for attribute in consistency %}
    select
        customer_id,
        customer_record_id,
        source_system,
        source,
        '{{ attribute }}' as attribute,
        lower({{ regexp_replace_all('cast(' ~ attribute ~ ' as ' ~ dbt.type_string() ~ ')', '\\s+', '') }}) as attribute_value
    from records
    where {{ attribute }} is not null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

-- each record against the other systems' records of its customer holding the attribute
compared as (
    select
        mine.source,
        mine.attribute,
        mine.customer_record_id,
        max(case when theirs.attribute_value = mine.attribute_value then 1 else 0 end) as is_confirmed
    from attribute_values as mine
    inner join attribute_values as theirs
        on theirs.customer_id = mine.customer_id
        and theirs.attribute = mine.attribute
        and theirs.source_system <> mine.source_system
    group by mine.source, mine.attribute, mine.customer_record_id
),

consistency_checks as (
    select
        source,
        'consistency' as criterion,
        attribute || '_conflicts_across_sources' as check_name,
        attribute,
        count(*) as checked,
        sum(is_confirmed) as passed,
        case attribute
            {%- for attribute, threshold in consistency.items() %}
            when '{{ attribute }}' then cast({{ threshold }} as double)
            {%- endfor %}
        end as threshold,
        cast(count(*) - sum(is_confirmed) as {{ dbt.type_string() }}) || ' of '
            || cast(count(*) as {{ dbt.type_string() }})
            || ' values contradicted by every other system holding one for the customer' as detail
    from compared
    group by source, attribute
),
{%- else %}
consistency_checks as (
    select
        source,
        'consistency' as criterion,
        source as check_name,
        source as attribute,
        0 as checked,
        0 as passed,
        cast(null as double) as threshold,
        source as detail
    from records
    where false
),
{%- endif %}

duplicate_person_checks as (
    select
        source,
        'uniqueness' as criterion,
        'duplicate_persons' as check_name,
        cast(null as {{ dbt.type_string() }}) as attribute,
        count(*) as checked,
        count(distinct customer_id) as passed,
        cast(null as double) as threshold,
        cast(count(*) - count(distinct customer_id) as {{ dbt.type_string() }}) || ' of '
            || cast(count(*) as {{ dbt.type_string() }})
            || ' records are a further record of a customer the system already holds' as detail
    from records
    group by source
),

checks as (
    select * from consistency_checks
    union all
    select * from duplicate_person_checks
),

final as (
    select
        source,
        criterion,
        check_name,
        attribute,
        cast(checked as {{ dbt.type_bigint() }}) as checked,
        cast(passed as {{ dbt.type_bigint() }}) as passed,
        cast(null as double) as measured_value,
        cast(null as double) as limit_value,
        threshold,
        detail
    from checks
)

select * from final
