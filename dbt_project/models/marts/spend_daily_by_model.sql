-- spend_daily rolled up to (UTC day, customer, provider, model): what platform-wide and
-- per-model views read (the console's overview, spend explorer and platform spend), where
-- spend_daily's grain (key × end user × tags) is nearly a row per request and summing a
-- month of it would take the page seconds. Incremental: the days with a spend_daily row
-- rebuilt since this model last ran are re-summed whole (macros/built_since_last_run.sql).
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

with days as (
    select d.*
    from {{ ref('spend_daily') }} as d
    {% if is_incremental() %}
    where d.usage_date in (
        select distinct s.usage_date from {{ ref('spend_daily') }} as s
        where {{ built_since_last_run(ref('spend_daily'), 's.built_at') }}
    )
    {% endif %}
)

select
    usage_date,
    customer_slug,
    provider,
    model,
    sum(requests)::bigint as requests,
    sum(successful_requests)::bigint as successful_requests,
    sum(failed_requests)::bigint as failed_requests,
    sum(input_tokens)::bigint as input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(provider_cost)::numeric(24,12) as provider_cost,
    sum(markup)::numeric(24,12) as markup,
    sum(customer_cost)::numeric(24,12) as customer_cost,
    sum(baseline_cost)::numeric(24,12) as baseline_cost,
    sum(savings)::numeric(24,12) as savings,
    max(loaded_at) as loaded_at,
    now() as built_at
from days
group by 1, 2, 3, 4
