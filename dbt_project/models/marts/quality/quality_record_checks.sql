{{ config(materialized='ephemeral') }}

-- Completeness and validity of the records as of the run, read from staging (one row per
-- key, latest version, values normalised). Completeness: the share of rows holding a
-- usable value of a key attribute. Validity: of the values sent, the share usable
-- (staging's is_valid_* flags: null when nothing was sent, false when unusable).
-- A source scored per source system is grouped by system; a system listed under
-- source_systems is held to its own key attributes, any other to the source's.
{%- set sources = var('data_quality')['sources'] %}
{%- set ns = namespace(separator='') %}

with

{% for source_name, settings in sources.items() if settings.get('model') %}
{{ source_name }}_records as (
    select
        {% if settings.get('source_systems') -%}
        '{{ source_name }}:' || source_system as source,
        {%- else -%}
        '{{ source_name }}' as source,
        {%- endif %}
        *
    from {{ ref(settings['model']) }}
),

{% endfor %}
checks as (
    {%- for source_name, settings in sources.items() if settings.get('model') %}
    {%- set systems = settings.get('source_systems') or {} %}
    {%- set groups = [] %}
    {%- for system, system_settings in systems.items() %}
        {%- do groups.append([
            "source_system = '" ~ system ~ "'",
            system_settings.get('completeness', settings.get('completeness', {})),
        ]) %}
    {%- endfor %}
    {%- if settings.get('completeness') %}
        {%- do groups.append([
            ("source_system not in ('" ~ (systems.keys() | join("', '")) ~ "')") if systems else 'true',
            settings['completeness'],
        ]) %}
    {%- endif %}

    {%- for rows_filter, completeness in groups %}
    {%- for attribute, threshold in completeness.items() %}
    {{ ns.separator }}
    select
        source,
        'completeness' as criterion,
        '{{ attribute }}_present' as check_name,
        '{{ attribute }}' as attribute,
        count(*) as checked,
        count({{ attribute }}) as passed,
        cast({{ threshold }} as double) as threshold,
        cast(count({{ attribute }}) as {{ dbt.type_string() }}) || ' of '
            || cast(count(*) as {{ dbt.type_string() }}) || ' rows hold a usable {{ attribute }}' as detail
    from {{ source_name }}_records
    where {{ rows_filter }}
    group by source
    {%- set ns.separator = 'union all' %}
    {%- endfor %}
    {%- endfor %}

    {%- for check_name, flag in (settings.get('validity') or {}).items() %}
    {%- set attribute = flag | replace('is_valid_', '') %}
    {{ ns.separator }}
    select
        source,
        'validity' as criterion,
        '{{ check_name }}' as check_name,
        '{{ attribute }}' as attribute,
        count({{ flag }}) as checked,
        sum(case when {{ flag }} then 1 else 0 end) as passed,
        cast(null as double) as threshold,
        cast(sum(case when not {{ flag }} then 1 else 0 end) as {{ dbt.type_string() }}) || ' of '
            || cast(count({{ flag }}) as {{ dbt.type_string() }})
            || ' {{ attribute }} values sent were unusable (malformed or a placeholder)' as detail
    from {{ source_name }}_records
    group by source
    {%- set ns.separator = 'union all' %}
    {%- endfor %}
    {%- endfor %}
    {%- if not ns.separator %}
    select
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as criterion,
        cast(null as {{ dbt.type_string() }}) as check_name,
        cast(null as {{ dbt.type_string() }}) as attribute,
        0 as checked,
        0 as passed,
        cast(null as double) as threshold,
        cast(null as {{ dbt.type_string() }}) as detail
    where false
    {%- endif %}
),

final as (
    select
        source,
        criterion,
        check_name,
        attribute,
        cast(checked as {{ dbt.type_bigint() }}) as checked,
        cast(passed as {{ dbt.type_bigint() }}) as passed,
        cast(null as double) as measured_value,
        cast(null as double) as limit_value,
        threshold,
        detail
    from checks
)

select * from final
