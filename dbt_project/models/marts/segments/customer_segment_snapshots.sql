{{ config(
    materialized='incremental',
    full_refresh=false,
    pre_hook="{{ delete_as_of_rows() }}",
    **as_of_slice_config(),
) }}

-- Segment members as of each run's date: the history that entries and exits are
-- read from. A run replaces its own as-of date's rows, so re-running is safe, and
-- runs as of past dates (backfills) fill in the history in any order.
select
    as_of_date,
    segment_name,
    customer_id
from {{ ref('int_segment_members') }}
