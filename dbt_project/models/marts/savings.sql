-- Savings per UTC day, customer and optimisation kind (seed 000's attribution): what the
-- requests would have cost at the baseline (the model asked for, no cache) vs what they cost.
-- savings_pct is savings / baseline_cost (null when the baseline is zero).
{{ config(indexes=[{'columns': ['customer_slug', 'usage_date']}]) }}

select
    (event_ts at time zone 'UTC')::date as usage_date,
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
    sum(customer_cost)::numeric(24,12) as customer_cost
from {{ ref('sat_cost_event_computed') }}
group by 1, 2, 3
