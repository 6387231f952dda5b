{{ config(
    materialized='incremental',
    full_refresh=false,
    pre_hook="{{ delete_as_of_rows() }}",
    **as_of_slice_config(),
) }}

-- Every data quality check per landing source (customers per source system) and as-of
-- date, scored: the history marketers read trends from. A run replaces its own as-of
-- date's rows, so re-running is safe and backfills fill in earlier dates. Counts only:
-- never a value.
with

checks as (
    select * from {{ ref('quality_checks_measured') }}
),

scored as (
    select
        source,
        criterion,
        check_name,
        attribute,
        checked,
        passed,
        case
            -- the newest row's age against the maximum: 1 within it, half at twice it, 0 with no row
            when criterion = 'timeliness' then
                case
                    when measured_value is null then 0
                    when measured_value <= limit_value then 1
                    else limit_value / measured_value
                end
            else cast(passed as double) / checked
        end as score,
        threshold,
        -- rounded: 0.99 - 0.04 is not quite 0.95 in floating point
        round(threshold - warn_margin, 6) as warn_threshold,
        measured_value,
        limit_value,
        detail
    from checks
    -- nothing to judge (no rows, no other system to compare with): no score; timeliness
    -- always has its one check, failing when nothing arrived
    where checked > 0
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        source,
        criterion,
        check_name,
        attribute,
        checked,
        passed,
        cast(score as double) as score,
        cast(threshold as double) as threshold,
        case
            when score >= threshold then 'pass'
            when score >= warn_threshold then 'warn'
            else 'fail'
        end as status,
        detail,
        cast(warn_threshold as double) as warn_threshold,
        measured_value,
        limit_value
    from scored
)

select * from final
