{#- One row per cutoff role: which dates the feature table is built for, and why. -#}
{%- set cutoffs = ml_cutoffs() %}

with cutoffs as (
    {%- for c in cutoffs %}
    select
        cast({{ "'" ~ c.model ~ "'" if c.model else 'null' }} as {{ dbt.type_string() }}) as model_name,
        '{{ c.role }}' as cutoff_role,
        cast({{ c.horizon if c.horizon else 'null' }} as {{ dbt.type_int() }}) as horizon_days,
        cast('{{ c.cutoff.isoformat() }}' as date) as cutoff_date,
        {{ as_of_date() }} as as_of_date
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        model_name,
        cutoff_role,
        horizon_days,
        cutoff_date,
        {{ dbt.dateadd('day', 'horizon_days', 'cutoff_date') }} as label_window_end_date,
        as_of_date
    from cutoffs
)

select * from final
