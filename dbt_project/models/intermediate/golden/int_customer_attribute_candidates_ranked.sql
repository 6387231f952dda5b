{{ config(
    materialized=incremental_fact_materialization(),
    incremental_strategy='delete+insert',
    unique_key='customer_id',
    on_schema_change='append_new_columns',
    post_hook="{{ delete_stale_attribute_candidates() }}",
) }}
{%- set attributes = golden_record_attributes() -%}
{%- set units = survivorship_units() -%}

{#-
    Incremental (docs/incremental.md): a daily build ranks again only the customers one of
    whose records is new, changed, or moved to them, and those a record left (each record's
    fingerprint in int_customer_record_fingerprints against the one held here); delete+insert
    replaces those customers' rows. The post-hook then deletes the rows of records that are
    gone or hold another fingerprint or customer now: those a record left whose other
    records offer no value, and records erased. On Spark (Parquet tables allow no delete) it
    is a table built in full, as the incremental facts are (docs/spark.md). `_built_at` stamps
    the rows a build wrote, for customer_attribute_lineage to read only those (build_timestamp).
-#}

with

customers as (
    select * from {{ ref('stg_landing__customers') }}
),

fingerprints as (
    select * from {{ ref('int_customer_record_fingerprints') }}
),

{% if is_incremental() -%}
held_fingerprints as (
    select distinct customer_record_id, customer_id, record_fingerprint
    from {{ this }}
),

-- customers a record joined or changed in (current side) or left (held side)
changed_customers as (
    select distinct coalesce(fingerprints.customer_id, held_fingerprints.customer_id) as customer_id
    from fingerprints
    full outer join held_fingerprints
        on held_fingerprints.customer_record_id = fingerprints.customer_record_id
        and held_fingerprints.customer_id = fingerprints.customer_id
        and held_fingerprints.record_fingerprint = fingerprints.record_fingerprint
    where fingerprints.customer_record_id is null or held_fingerprints.customer_record_id is null
),

customer_records as (
    select fingerprints.*
    from fingerprints
    inner join changed_customers
        on changed_customers.customer_id = fingerprints.customer_id
),
{%- else -%}
customer_records as (
    select * from fingerprints
),
{%- endif %}

-- each record with its customer
customer_source_records as (
    select
        customer_records.customer_id,
        customer_records.record_fingerprint,
        customers.*
    from customers
    inner join customer_records
        on customer_records.customer_record_id = customers.customer_record_id
),

-- each record's place in the customer's history (1 = the latest change), how
-- many golden record attributes it fills, and per group its value and how many
-- of the group's attributes it fills
records as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by
                coalesce(updated_at, created_at) desc nulls last,
                _load_id desc,
                source_system desc,
                source_customer_id desc
        ) as record_recency_rank,
        {% for unit in units if unit.attributes | length > 1 -%}
        {{ surrogate_key(unit.attributes) }} as {{ unit.name }}__value_key,
        {{ filled_count(unit.attributes) }} as {{ unit.name }}__completeness,
        {% endfor -%}
        {{ filled_count(attributes | map(attribute='name') | list) }} as record_completeness,
        coalesce(updated_at, created_at) as record_changed_at
    from customer_source_records
),

-- long format: one row per record and attribute it has a value for, so nulls
-- never win. A group's value is all its attributes together.
candidates as (
    {%- for unit in units %}
    {%- set is_group = unit.attributes | length > 1 %}
    {%- for attribute in unit.attributes %}
    select
        customer_id,
        customer_record_id,
        source_system,
        source_customer_id,
        '{{ attribute }}' as attribute,
        '{{ unit.name }}' as attribute_group,
        '{{ unit.rule }}' as survivorship_rule,
        cast({{ attribute }} as {{ dbt.type_string() }}) as attribute_value,
        {% if is_group -%}
        {{ unit.name }}__value_key as group_value_key,
        {%- else -%}
        cast({{ attribute }} as {{ dbt.type_string() }}) as group_value_key,
        {%- endif %}
        {% if unit.rule == 'source_priority' -%}
        case source_system
            {%- for system in unit.source_priority %}
            when {{ sql_string(system) }} then {{ loop.index }}
            {%- endfor %}
            else {{ unit.source_priority | length + 1 }}
        end as source_priority_rank,
        {%- else -%}
        cast(null as {{ dbt.type_int() }}) as source_priority_rank,
        {%- endif %}
        {{ unit.name ~ '__completeness' if is_group else 1 }} as group_completeness,
        record_completeness,
        record_recency_rank,
        record_changed_at,
        record_fingerprint
    from records
    where {{ attribute }} is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

-- records of the customer holding the same value (of the whole group)
counted as (
    select
        *,
        count(*) over (
            partition by customer_id, attribute, group_value_key
        ) as value_frequency
    from candidates
),

-- within a group the record filling most of it comes first; then the rule;
-- ties go to the latest record. Ranks are per record, so a group's attributes
-- share the rank of their record.
ranked as (
    select
        *,
        dense_rank() over (
            partition by customer_id, attribute_group
            order by
                group_completeness desc,
                case when survivorship_rule = 'source_priority' then source_priority_rank end nulls last,
                case when survivorship_rule = 'most_frequent' then value_frequency end desc,
                case when survivorship_rule = 'most_complete' then record_completeness end desc,
                record_recency_rank
        ) as survivorship_rank
    from counted
),

final as (
    select
        {{ surrogate_key(['customer_record_id', 'attribute']) }} as customer_attribute_candidate_id,
        customer_id,
        customer_record_id,
        source_system,
        source_customer_id,
        attribute,
        attribute_group,
        survivorship_rule,
        attribute_value,
        source_priority_rank,
        group_completeness,
        record_completeness,
        value_frequency,
        record_recency_rank,
        survivorship_rank,
        survivorship_rank = 1 as is_survivor,
        record_changed_at,
        record_fingerprint,
        {{ build_timestamp() }} as _built_at
    from ranked
)

select * from final
