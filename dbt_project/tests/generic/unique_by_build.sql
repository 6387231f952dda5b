{#-
    A key (one column, or combination_of_columns) is unique, checked where a duplicate can
    arise: among the keys of the rows the latest build wrote (the newest `built_at`), against
    every row of the table. For an incremental model that stamps the rows each build writes
    (build_timestamp): a daily build writes a day's rows and keeps the rest, which the builds
    that wrote them checked, so its test groups the new keys only instead of the whole history
    (int_events_identified at 1,000,000 customers: 1.4 s against 5.8-11.2 s). A full build
    stamps every row alike and is checked whole. A duplicate that a build wrote fails that
    build's test; a full refresh checks all rows again (docs/incremental.md). Rows whose key
    has a null are not compared, as dbt's unique test leaves nulls to not_null.
-#}
{% test unique_by_build(model, column_name=none, combination_of_columns=none, built_at='_built_at') %}
{%- set columns = combination_of_columns or [column_name] -%}
{%- set key = columns | join(', ') %}
with

latest_keys as (
    select distinct {{ key }}
    from {{ model }}
    where {{ built_at }} = (select max({{ built_at }}) from {{ model }})
)

select {{ key }}, count(*) as rows_with_key
from {{ model }}
where ({{ key }}) in (select {{ key }} from latest_keys)
group by {{ key }}
having count(*) > 1
{% endtest %}
