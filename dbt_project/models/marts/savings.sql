-- Savings per UTC day, customer and optimisation kind (seed 000's attribution): what the
-- requests would have cost at the baseline (the model asked for, no cache) vs what they cost.
-- savings_pct is savings / baseline_cost (null when the baseline is zero). Incremental: days
-- touched by cost events sat_cost_event_computed (re)built since this model last ran are rebuilt.
{{ config(
    materialized='incremental',
    unique_key='usage_date',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
      {'columns': ['usage_date']},
      {'columns': ['customer_slug', 'usage_date']},
      {'columns': ['built_at']},
    ],
) }}

{% if is_incremental() %}
{% set touched_days_sql %}
    select distinct (event_ts at time zone 'UTC')::date
    from {{ ref('sat_cost_event_computed') }}
    where {{ built_since_last_run(ref('sat_cost_event_computed'), 'built_at') }}
{% endset %}
{% set days = query_values(touched_days_sql) %}
{% endif %}

with events as (
    select *, (event_ts at time zone 'UTC')::date as usage_date
    from {{ ref('sat_cost_event_computed') }}
    {% if is_incremental() %}
    -- the touched days as literals (compile time), their range for the event_ts index
    {% if days %}
    where event_ts >= ('{{ days | first }}'::date)::timestamp at time zone 'UTC'
      and event_ts < ('{{ days | last }}'::date + 1)::timestamp at time zone 'UTC'
      and (event_ts at time zone 'UTC')::date in {{ sql_list(days, 'date') }}
    {% else %}
    where false
    {% endif %}
    {% endif %}
)

select
    usage_date,
    customer_slug,
    optimisation,
    count(*) as requests,
    sum(coalesce(baseline_cost, provider_cost))::numeric(24,12) as baseline_cost,
    sum(provider_cost)::numeric(24,12) as actual_cost,
    sum(coalesce(baseline_cost, provider_cost) - provider_cost)::numeric(24,12) as savings,
    round(
        sum(coalesce(baseline_cost, provider_cost) - provider_cost)
        / nullif(sum(coalesce(baseline_cost, provider_cost)), 0), 6
    ) as savings_pct,
    sum(customer_cost)::numeric(24,12) as customer_cost,
    max(loaded_at) as loaded_at,
    now() as built_at
from events
group by 1, 2, 3
