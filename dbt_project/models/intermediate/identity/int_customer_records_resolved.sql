-- Each customer record with its customer: the current assignment from the id
-- history, and the strongest kind of link that ties it to its customer.
with

clusters as (
    select * from {{ ref('int_identity_clusters') }}
),

records as (
    select * from {{ ref('int_identity_match_records') }}
),

assignments as (
    select * from {{ ref('int_customer_id_assignments') }}
),

links as (
    select * from {{ ref('int_identity_links') }}
),

current_assignments as (
    select customer_record_id, customer_id
    from assignments
    qualify row_number() over (partition by customer_record_id order by assigned_at desc, customer_id) = 1
),

-- links that survived clustering (not left out in clustering), from both ends
record_links as (
    select links.record_rank_l as record_rank, links.link_rule
    from links
    inner join clusters as l on l.record_rank = links.record_rank_l
    inner join clusters as r on r.record_rank = links.record_rank_r
    where l.anchor_record_rank = r.anchor_record_rank

    union all

    select links.record_rank_r, links.link_rule
    from links
    inner join clusters as l on l.record_rank = links.record_rank_l
    inner join clusters as r on r.record_rank = links.record_rank_r
    where l.anchor_record_rank = r.anchor_record_rank
),

{%- set match_keys = var('identity_match_keys') %}
-- the strongest kind of link a record has: shared identifiers in var identity_match_keys order, then a probabilistic match
matched_on as (
    select
        record_rank,
        case
            {%- for key in match_keys %}
            when bool_or(link_rule = 'shared_{{ key }}') then '{{ key }}'
            {%- endfor %}
            when bool_or(link_rule = 'probabilistic') then 'probabilistic'
        end as matched_on
    from record_links
    group by record_rank
),

final as (
    select
        records.customer_record_id,
        current_assignments.customer_id,
        records.source_system,
        records.source_customer_id,
        coalesce(matched_on.matched_on, 'none') as matched_on
    from records
    inner join current_assignments
        on current_assignments.customer_record_id = records.customer_record_id
    left join matched_on
        on matched_on.record_rank = records.record_rank
)

select * from final
