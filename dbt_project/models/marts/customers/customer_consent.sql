with

consent_events as (
    select * from {{ ref('int_consent_events_identified') }}
),

-- latest event wins across sources; at the same instant a refusal beats a grant
ranked as (
    select
        *,
        row_number() over (
            partition by customer_id, purpose
            order by
                occurred_at desc,
                case when consent_status = 'granted' then 1 else 0 end,
                source_system,
                consent_event_id
        ) as recency_rank
    from consent_events
),

final as (
    select
        {{ surrogate_key(['customer_id', 'purpose']) }} as customer_consent_id,
        customer_id,
        consent_event_id,
        purpose,
        consent_status,
        source_system,
        matched_on,
        consent_status = 'granted' as is_granted,
        occurred_at as status_changed_at
    from ranked
    where recency_rank = 1
)

select * from final
