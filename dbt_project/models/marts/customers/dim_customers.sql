with

customers as (
    select * from {{ ref('stg_landing__customers') }}
),

customer_records as (
    select * from {{ ref('int_customer_records_resolved') }}
),

erasure_requests as (
    select * from {{ ref('int_erasure_requests_identified') }}
),

-- later-updated records rank higher; their non-null values survive
ranked_records as (
    select
        customer_records.customer_id,
        customers.*,
        row_number() over (
            partition by customer_records.customer_id
            order by
                coalesce(customers.updated_at, customers.created_at) nulls first,
                customers._load_id,
                customers.source_system,
                customers.source_customer_id
        ) as recency_rank
    from customers
    inner join customer_records
        on customer_records.customer_record_id = customers.customer_record_id
),

survived as (
    select
        customer_id,
        {{ arg_max_non_null('email', 'recency_rank') }} as email,
        {{ arg_max_non_null('phone', 'recency_rank') }} as phone,
        {{ arg_max_non_null('first_name', 'recency_rank') }} as first_name,
        {{ arg_max_non_null('last_name', 'recency_rank') }} as last_name,
        {{ arg_max_non_null('gender', 'recency_rank') }} as gender,
        {{ arg_max_non_null('street', 'recency_rank') }} as street,
        {{ arg_max_non_null('city', 'recency_rank') }} as city,
        {{ arg_max_non_null('postcode', 'recency_rank') }} as postcode,
        {{ arg_max_non_null('state', 'recency_rank') }} as state,
        {{ arg_max_non_null('country_code', 'recency_rank') }} as country_code,
        {{ arg_max_non_null('language_code', 'recency_rank') }} as language_code,
        {{ arg_max_non_null('loyalty_id', 'recency_rank') }} as loyalty_id,
        {{ arg_max_non_null('birth_date', 'recency_rank') }} as birth_date,
        count(*) as source_records_count,
        min(created_at) as first_seen_at,
        max(updated_at) as last_updated_at
    from ranked_records
    group by customer_id
),

source_systems as (
    select
        customer_id,
        {{ dbt.listagg('source_system', "','", 'order by source_system') }} as source_systems
    from (select distinct customer_id, source_system from ranked_records) as customer_systems
    group by customer_id
),

erased as (
    select
        customer_id,
        min(requested_at) as erasure_requested_at
    from erasure_requests
    group by customer_id
),

-- an erased customer keeps its key and coarse facts; personal data is removed
final as (
    select
        survived.customer_id,
        {% for column in ['email', 'phone', 'first_name', 'last_name', 'gender', 'street', 'city', 'postcode', 'state', 'loyalty_id'] -%}
        case when erased.customer_id is null then survived.{{ column }} end as {{ column }},
        {% endfor -%}
        survived.country_code,
        survived.language_code,
        source_systems.source_systems,
        survived.source_records_count,
        erased.customer_id is null and survived.email is not null as has_email,
        erased.customer_id is null and survived.phone is not null as has_phone,
        erased.customer_id is not null as is_erased,
        case when erased.customer_id is null then survived.birth_date end as birth_date,
        survived.first_seen_at,
        survived.last_updated_at,
        erased.erasure_requested_at
    from survived
    inner join source_systems
        on source_systems.customer_id = survived.customer_id
    left join erased
        on erased.customer_id = survived.customer_id
)

select * from final
