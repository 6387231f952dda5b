{#- One row per customer and value of value_column in relation (null values left out):
    how often the value occurs, when last, and its rank for the customer, 1 = most often.
    Ties go to the value seen most recently, then the lowest value, so the pick is
    reproducible. carry_columns come from the value's latest row that has them. -#}
{% macro rank_by_frequency(relation, value_column, time_column, carry_columns=[]) -%}
    select
        customer_id,
        {{ value_column }},
        {%- for column in carry_columns %}
        {{ arg_max_non_null(column, time_column) }} as {{ column }},
        {%- endfor %}
        count(*) as occurrences,
        max({{ time_column }}) as last_occurred_at,
        row_number() over (
            partition by customer_id
            order by count(*) desc, max({{ time_column }}) desc, {{ value_column }}
        ) as frequency_rank
    from {{ relation }}
    where {{ value_column }} is not null
    group by customer_id, {{ value_column }}
{%- endmacro %}
