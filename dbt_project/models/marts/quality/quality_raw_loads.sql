{{ config(materialized='ephemeral') }}

-- The raw rows of the scored sources summed per load and source system, in one pass over
-- the rows: the duplicate, timeliness and load checks read these sums, so the history's
-- rows are scanned once and never held. Rows as of the run are those with no time after
-- the cutoff; a row's first copy is what the duplicate check counts as distinct.

with

raw_rows as (
    select * from {{ ref('quality_raw_rows') }}
),

final as (
    select
        landing_source,
        load_id,
        source_system,
        count(*) as row_count,
        max(version_at) as newest_row_at,
        count(case when version_at is null or version_at < {{ as_of_cutoff_utc() }} then 1 end) as rows_as_of,
        count(
            case
                when (version_at is null or version_at < {{ as_of_cutoff_utc() }}) and not repeats_earlier_copy
                    then 1
            end
        ) as first_copies_as_of,
        max(case when version_at < {{ as_of_cutoff_utc() }} then version_at end) as newest_row_as_of
    from raw_rows
    group by landing_source, load_id, source_system
)

select * from final
