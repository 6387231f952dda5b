{{ config(
    materialized='incremental',
    full_refresh=false,
    pre_hook="{{ delete_as_of_rows() }}",
    **as_of_slice_config(),
) }}

-- One row per landing source (customers per source system) and as-of date: each
-- criterion's score (the mean of its checks' scores; null when none applies), the
-- quarantine rate, an overall score (the mean of the criteria, quarantine counting as
-- 1 - rate) and the worst status of its checks. Incremental per as-of date like the
-- scorecard it is read from.
with

scorecard as (
    select * from {{ ref('data_quality_scorecard') }}
    where as_of_date = {{ as_of_date() }}
),

-- means over exact decimals: a float sum depends on the order rows arrive in, and a
-- re-run must give the same bits
criteria as (
    select
        as_of_date,
        source,
        avg(case when criterion = 'completeness' then cast(score as decimal(18, 12)) end) as completeness,
        avg(case when criterion = 'validity' then cast(score as decimal(18, 12)) end) as validity,
        avg(case when criterion = 'consistency' then cast(score as decimal(18, 12)) end) as consistency,
        avg(case when criterion = 'timeliness' then cast(score as decimal(18, 12)) end) as timeliness,
        avg(case when criterion = 'uniqueness' then cast(score as decimal(18, 12)) end) as uniqueness,
        sum(case when check_name = 'quarantined_rows' then checked end) as rows_in,
        sum(case when check_name = 'quarantined_rows' then passed end) as rows_loaded,
        sum(case when status = 'fail' then 1 else 0 end) as failed_checks,
        sum(case when status = 'warn' then 1 else 0 end) as warned_checks
    from scorecard
    group by as_of_date, source
),

rated as (
    select
        *,
        cast(rows_in - rows_loaded as double) / nullif(rows_in, 0) as quarantine_rate
    from criteria
),

final as (
    select
        as_of_date,
        source,
        cast(completeness as double) as completeness,
        cast(validity as double) as validity,
        cast(consistency as double) as consistency,
        cast(timeliness as double) as timeliness,
        cast(uniqueness as double) as uniqueness,
        quarantine_rate,
        cast(
            (
                coalesce(completeness, 0) + coalesce(validity, 0) + coalesce(consistency, 0)
                + coalesce(timeliness, 0) + coalesce(uniqueness, 0) + coalesce(1 - quarantine_rate, 0)
            ) / (
                case when completeness is null then 0 else 1 end
                + case when validity is null then 0 else 1 end
                + case when consistency is null then 0 else 1 end
                + case when timeliness is null then 0 else 1 end
                + case when uniqueness is null then 0 else 1 end
                + case when quarantine_rate is null then 0 else 1 end
            ) as double
        ) as overall_score,
        cast(coalesce(rows_in, 0) as {{ dbt.type_bigint() }}) as rows_in,
        cast(coalesce(rows_loaded, 0) as {{ dbt.type_bigint() }}) as rows_loaded,
        cast(coalesce(rows_in - rows_loaded, 0) as {{ dbt.type_bigint() }}) as rows_rejected,
        case
            when failed_checks > 0 then 'fail'
            when warned_checks > 0 then 'warn'
            else 'pass'
        end as status,
        cast(failed_checks as {{ dbt.type_bigint() }}) as failed_checks,
        cast(warned_checks as {{ dbt.type_bigint() }}) as warned_checks
    from rated
)

select * from final
