{%- set attributes = golden_record_attributes() | map(attribute='name') | list -%}
{%- set settings = tojson({'attributes': attributes, 'units': survivorship_units()}) -%}
{%- set inputs = [] -%}
{%- for column in attributes + ['created_at', 'updated_at', '_load_id', 'source_system', 'source_customer_id'] -%}
    {%- do inputs.append('customers.' ~ column) -%}
{%- endfor -%}

-- Each customer record with its customer and a fingerprint of everything the golden
-- record's survivorship reads from it (its attribute values, times, load, system and id)
-- and of the survivorship settings. A daily build of int_customer_attribute_candidates_ranked
-- ranks again only the customers whose records' fingerprints changed (docs/incremental.md).
with

customers as (
    select * from {{ ref('stg_landing__customers') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

final as (
    select
        customer_records.customer_record_id,
        customer_records.customer_id,
        {{ surrogate_key(inputs + [sql_string(local_md5(settings))]) }} as record_fingerprint
    from customers
    inner join customer_records
        on customer_records.customer_record_id = customers.customer_record_id
)

select * from final
