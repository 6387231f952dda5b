{#-
    Cutoff dates of the machine-learning feature table (docs/ml.md). Scoring uses
    features as of the run's as-of date; each supervised model trains on an earlier
    cutoff and is validated out of time on a later one, both with labels from the
    `horizon` days after the cutoff, so the training labels end where validation's
    features end:
        training   = as_of - 2 * horizon   labels (training, validation]
        validation = as_of - horizon       labels (validation, as_of]
-#}
{% macro ml_cutoffs() -%}
    {%- set as_of = modules.datetime.datetime.strptime(as_of_date_string(), '%Y-%m-%d').date() -%}
    {%- set day = modules.datetime.timedelta(days=1) -%}
    {%- set rows = [{'role': 'scoring', 'model': none, 'cutoff': as_of, 'horizon': none}] -%}
    {%- for model, horizon_var in [('churn', 'churn_horizon_days'), ('purchase_propensity', 'purchase_propensity_horizon_days')] -%}
        {%- set horizon = var(horizon_var) | int -%}
        {%- if horizon < 1 -%}
            {{ exceptions.raise_compiler_error("var " ~ horizon_var ~ " must be a positive number of days, got " ~ var(horizon_var)) }}
        {%- endif -%}
        {%- do rows.append({'role': 'validation', 'model': model, 'cutoff': as_of - day * horizon, 'horizon': horizon}) -%}
        {%- do rows.append({'role': 'training', 'model': model, 'cutoff': as_of - day * (2 * horizon), 'horizon': horizon}) -%}
    {%- endfor -%}
    {{ return(rows) }}
{%- endmacro %}


{#- Age band at a date, for fairness checks (never a model feature). -#}
{% macro ml_age_band(birth_date, at_date) -%}
    {#- whole years lived: year boundaries crossed would age everyone on 1 January -#}
    {%- set age = 'floor(' ~ dbt.datediff(birth_date, at_date, 'day') ~ ' / 365.25)' -%}
    case
        when {{ birth_date }} is null then 'unknown'
        when {{ age }} < 25 then '18-24'
        when {{ age }} < 35 then '25-34'
        when {{ age }} < 45 then '35-44'
        when {{ age }} < 55 then '45-54'
        when {{ age }} < 65 then '55-64'
        else '65+'
    end
{%- endmacro %}
