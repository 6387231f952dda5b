{%- set rounds = var('identity_propagation_rounds') | int -%}

with

customers as (
    select * from {{ ref('stg_landing__customers') }}
),

identifiers as (
    select * from {{ ref('int_customer_identifiers_unioned') }}
),

-- the oldest record of a customer is its anchor: a record's rank is its label
ranked_records as (
    select
        customer_record_id,
        source_system,
        source_customer_id,
        row_number() over (
            order by created_at nulls last, source_system, source_customer_id
        ) as record_rank
    from customers
),

edges as (
    select
        ranked_records.record_rank,
        identifiers.identifier_type,
        identifiers.identifier_value
    from identifiers
    inner join ranked_records
        on ranked_records.customer_record_id = identifiers.customer_record_id
    where identifiers.is_linking
),

-- connected components by min-label propagation over record - identifier - record:
-- each round an identifier takes the smallest label of its records, each record
-- the smallest label of its identifiers, and then the label of the record its
-- label names (pointer jumping), so long chains converge in few rounds
labels_0 as (
    select distinct
        record_rank,
        record_rank as label
    from edges
),

{% for round in range(1, rounds + 1) %}
identifier_labels_{{ round }} as (
    select
        edges.identifier_type,
        edges.identifier_value,
        min(labels_{{ round - 1 }}.label) as label
    from edges
    inner join labels_{{ round - 1 }}
        on labels_{{ round - 1 }}.record_rank = edges.record_rank
    group by edges.identifier_type, edges.identifier_value
),

propagated_{{ round }} as (
    select
        edges.record_rank,
        min(identifier_labels_{{ round }}.label) as label
    from edges
    inner join identifier_labels_{{ round }}
        on identifier_labels_{{ round }}.identifier_type = edges.identifier_type
        and identifier_labels_{{ round }}.identifier_value = edges.identifier_value
    group by edges.record_rank
),

labels_{{ round }} as (
    select
        propagated_{{ round }}.record_rank,
        coalesce(label_records.label, propagated_{{ round }}.label) as label
    from propagated_{{ round }}
    left join propagated_{{ round }} as label_records
        on label_records.record_rank = propagated_{{ round }}.label
),

{% endfor %}
-- the strongest identifier type that links a record (in var identity_match_keys order)
{%- set match_keys = var('identity_match_keys') %}
matched_on as (
    select
        customer_record_id,
        case
            {%- for key in match_keys %}
            when max(case when identifier_type = '{{ key }}' then 1 else 0 end) = 1 then '{{ key }}'
            {%- endfor %}
        end as matched_on
    from identifiers
    where is_linking
    group by customer_record_id
),

resolved as (
    select
        ranked_records.customer_record_id,
        ranked_records.source_system,
        ranked_records.source_customer_id,
        anchors.source_system as anchor_source_system,
        anchors.source_customer_id as anchor_source_customer_id,
        coalesce(matched_on.matched_on, 'none') as matched_on
    from ranked_records
    left join labels_{{ rounds }}
        on labels_{{ rounds }}.record_rank = ranked_records.record_rank
    inner join ranked_records as anchors
        on anchors.record_rank = coalesce(labels_{{ rounds }}.label, ranked_records.record_rank)
    left join matched_on
        on matched_on.customer_record_id = ranked_records.customer_record_id
),

final as (
    select
        customer_record_id,
        {{ surrogate_key(["'customer'", 'anchor_source_system', 'anchor_source_customer_id']) }} as customer_id,
        source_system,
        source_customer_id,
        matched_on
    from resolved
)

select * from final
