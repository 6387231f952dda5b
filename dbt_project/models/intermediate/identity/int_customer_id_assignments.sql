{{ config(materialized='incremental', incremental_strategy='append', full_refresh=false) }}
-- Which customer_id each record belongs to, as an append-only history: a run
-- appends a row only for a record that is new or whose customer changed, so
-- ids are stable across runs and every merge and split is kept with its time
-- and reason. full_refresh is off: a --full-refresh must not re-mint ids.
--
-- A previous id stays with the new cluster that holds most of its records; a
-- cluster that inherits several keeps the one with most records (the others
-- are merged into it); a cluster that inherits none mints an id from its
-- anchor, its oldest record.
with

clusters as (
    select * from {{ ref('int_identity_clusters') }}
),

records as (
    select * from {{ ref('int_identity_match_records') }}
),

links as (
    select * from {{ ref('int_identity_links') }}
),

{% if is_incremental() %}
history as (
    select customer_record_id, customer_id, assigned_at from {{ this }}
),
{% else %}
history as (
    select
        cast(null as {{ dbt.type_string() }}) as customer_record_id,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as timestamp) as assigned_at
    where false
),
{% endif %}

previous as (
    select customer_record_id, customer_id
    from history
    qualify row_number() over (partition by customer_record_id order by assigned_at desc, customer_id) = 1
),

clustered as (
    select
        clusters.customer_record_id,
        clusters.record_rank,
        clusters.anchor_record_rank,
        clusters.split_reason,
        previous.customer_id as previous_customer_id
    from clusters
    left join previous
        on previous.customer_record_id = clusters.customer_record_id
),

overlap as (
    select
        anchor_record_rank,
        previous_customer_id,
        count(*) as records
    from clustered
    where previous_customer_id is not null
    group by anchor_record_rank, previous_customer_id
),

successors as (
    select *
    from overlap
    qualify row_number() over (
        partition by previous_customer_id order by records desc, anchor_record_rank
    ) = 1
),

kept_ids as (
    select
        anchor_record_rank,
        previous_customer_id as customer_id
    from successors
    qualify row_number() over (
        partition by anchor_record_rank order by records desc, previous_customer_id
    ) = 1
),

minted_ids as (
    select
        anchors.anchor_record_rank,
        case
            -- the anchor's plain id was used before (by an older cluster): qualify it with this run
            when exists (select 1 from history where history.customer_id = anchors.plain_id)
                then {{ surrogate_key(["'customer'", 'anchors.source_system', 'anchors.source_customer_id', "'" ~ run_started_at.isoformat() ~ "'"]) }}
            else anchors.plain_id
        end as customer_id
    from (
        select distinct
            clustered.anchor_record_rank,
            records.source_system,
            records.source_customer_id,
            {{ surrogate_key(["'customer'", 'records.source_system', 'records.source_customer_id']) }} as plain_id
        from clustered
        inner join records
            on records.record_rank = clustered.anchor_record_rank
        anti join kept_ids
            on kept_ids.anchor_record_rank = clustered.anchor_record_rank
    ) as anchors
),

assigned as (
    select
        clustered.*,
        coalesce(kept_ids.customer_id, minted_ids.customer_id) as customer_id
    from clustered
    left join kept_ids
        on kept_ids.anchor_record_rank = clustered.anchor_record_rank
    left join minted_ids
        on minted_ids.anchor_record_rank = clustered.anchor_record_rank
),

-- the link rules joining a merged record's old customer to its new one
merge_evidence as (
    select
        moved.customer_record_id,
        {{ ordered_array_agg('links.link_rule', 'links.link_rule', distinct=true) }} as link_rules
    from assigned as moved
    inner join assigned as old_mates
        on old_mates.previous_customer_id = moved.previous_customer_id
    inner join links
        on old_mates.record_rank in (links.record_rank_l, links.record_rank_r)
    inner join assigned as new_mates
        on new_mates.record_rank = case
            when links.record_rank_l = old_mates.record_rank then links.record_rank_r
            else links.record_rank_l
        end
        and new_mates.customer_id = moved.customer_id
        and new_mates.previous_customer_id is distinct from moved.previous_customer_id
    where moved.previous_customer_id <> moved.customer_id
    group by moved.customer_record_id
),

final as (
    select
        assigned.customer_record_id,
        assigned.customer_id,
        assigned.previous_customer_id,
        case
            when assigned.previous_customer_id is null then 'new_record'
            when successors.anchor_record_rank = assigned.anchor_record_rank then 'merged'
            else 'split'
        end as change_type,
        case
            when assigned.previous_customer_id is null then 'first seen'
            when successors.anchor_record_rank = assigned.anchor_record_rank
                then 'now linked by ' || coalesce({{ array_join('merge_evidence.link_rules', "', '") }}, 'a chain of links')
            when assigned.split_reason = 'weak_link_between_customers' then 'only a weak probabilistic link joined it'
            when assigned.split_reason = 'vetoed_pair' then 'kept apart from a record it must not join (a veto)'
            else 'no longer linked to its former customer'
        end as change_reason,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp) as assigned_at,
        {{ as_of_date() }} as as_of_date
    from assigned
    left join successors
        on successors.previous_customer_id = assigned.previous_customer_id
    left join merge_evidence
        on merge_evidence.customer_record_id = assigned.customer_record_id
    where assigned.previous_customer_id is distinct from assigned.customer_id
)

select * from final
