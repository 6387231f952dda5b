{#- No row of a UTC timestamp column lies after the as-of date: the point-in-time cutoff held. -#}
{% test before_as_of_cutoff(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} >= {{ to_utc_timestamp(as_of_cutoff()) }}
{% endtest %}
