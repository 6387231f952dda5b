{#-
    One row per key from an append-only raw relation: the latest version.
    order_by puts the source's own notion of "latest" first (e.g. updated_at);
    the load order (_load_id, then _record_number within a file) breaks ties.
    Adds version_rank (always 1); callers select their columns explicitly.
-#}
{% macro latest_version(relation, key_columns, order_by=none) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {% if order_by %}{{ order_by }}, {% endif %}_load_id desc, _record_number desc
            ) as version_rank
        from {{ relation }}
    ) as versions
    where version_rank = 1
{%- endmacro %}
