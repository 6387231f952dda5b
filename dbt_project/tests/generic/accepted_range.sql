{#- Every non-null value lies between min_value and max_value (give one or both);
    inclusive: false excludes the bounds themselves. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {%- set outside = [] -%}
    {%- if min_value is not none -%}
        {%- do outside.append(column_name ~ (' < ' if inclusive else ' <= ') ~ min_value) -%}
    {%- endif -%}
    {%- if max_value is not none -%}
        {%- do outside.append(column_name ~ (' > ' if inclusive else ' >= ') ~ max_value) -%}
    {%- endif -%}
    {%- if not outside -%}
        {{ exceptions.raise_compiler_error('accepted_range needs min_value or max_value') }}
    {%- endif -%}
    select {{ column_name }}
    from {{ model }}
    where {{ outside | join(' or ') }}
{% endtest %}
