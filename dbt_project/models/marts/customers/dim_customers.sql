{%- set attributes = golden_record_attributes() -%}
{%- set text_attributes = attributes | rejectattr('data_type', 'equalto', 'date') | list -%}
{%- set date_attributes = attributes | selectattr('data_type', 'equalto', 'date') | list -%}

with

customers as (
    select * from {{ ref('stg_landing__customers') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

golden_records as (
    select * from {{ ref('int_customer_golden_records_pivoted') }}
),

erasure_requests as (
    select * from {{ ref('int_erasure_requests_identified') }}
),

customer_source_records as (
    select
        customer_records.customer_id,
        customers.source_system,
        customers.created_at,
        customers.updated_at
    from customers
    inner join customer_records
        on customer_records.customer_record_id = customers.customer_record_id
),

record_facts as (
    select
        customer_id,
        count(*) as source_records_count,
        min(created_at) as first_seen_at,
        max(updated_at) as last_updated_at
    from customer_source_records
    group by customer_id
),

source_systems as (
    select
        customer_id,
        {{ dbt.listagg('source_system', "','", 'order by source_system') }} as source_systems
    from (select distinct customer_id, source_system from customer_source_records) as customer_systems
    group by customer_id
),

erased as (
    select
        customer_id,
        min(requested_at) as erasure_requested_at
    from erasure_requests
    group by customer_id
),

-- attributes are the golden record's (var survivorship); an erased customer
-- keeps its key and coarse facts, its personal data is removed
final as (
    select
        golden_records.customer_id,
        {% for attribute in text_attributes -%}
        {{ masked_if_erased(attribute, 'golden_records', 'erased') }} as {{ attribute.name }},
        {% endfor -%}
        source_systems.source_systems,
        record_facts.source_records_count,
        erased.customer_id is null and golden_records.email is not null as has_email,
        erased.customer_id is null and golden_records.phone is not null as has_phone,
        erased.customer_id is not null as is_erased,
        {% for attribute in date_attributes -%}
        {{ masked_if_erased(attribute, 'golden_records', 'erased') }} as {{ attribute.name }},
        {% endfor -%}
        record_facts.first_seen_at,
        record_facts.last_updated_at,
        erased.erasure_requested_at
    from golden_records
    inner join record_facts
        on record_facts.customer_id = golden_records.customer_id
    inner join source_systems
        on source_systems.customer_id = golden_records.customer_id
    left join erased
        on erased.customer_id = golden_records.customer_id
)

select * from final
