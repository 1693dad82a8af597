-- Billing facts per invoice line and tag bucket: each usage, cache and correction line split by
-- the tags of the cost events on it (team, project, cost_center, end user; a missing one is
-- 'unallocated'). chargeback allocates by `weight` (Σ customer_cost); invoice_usage_items sums
-- the buckets back into lines — one pass over the cost events serves both.
-- Incremental: a refresh re-sums only the buckets (bucket_key, by cost_event_billing's index)
-- that hold a cost event cost_event_billing placed since this model last ran — a few events
-- each — instead of the open month's every event; rebuilt whole when the finalisations changed
-- (macros/finalisations_digest.sql). built_at tells chargeback which buckets changed.
-- depends_on: {{ ref('invoice_finalisations') }}
{{ config(
    materialized='incremental',
    unique_key='bucket_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ reset_when_finalisations_change() }}",
    indexes=[
      {'columns': ['bucket_key'], 'unique': True},
      {'columns': ['customer_slug', 'billing_period_start']},
      {'columns': ['built_at']},
    ],
) }}

{% if not finalisations_changed() %}
with touched as (
    select distinct bucket_key
    from {{ ref('cost_event_billing') }}
    where {{ built_since_last_run(ref('cost_event_billing'), 'built_at') }}
),

events as (
    -- every event of each touched bucket, by the bucket_key index: a probe per bucket, whatever
    -- the planner guesses of how many buckets there are (a column built in one go has a single
    -- built_at value, and no histogram to estimate `built_at > x` from)
    select e.*
    from touched as t
    cross join lateral (
        select * from {{ ref('cost_event_billing') }} as c where c.bucket_key = t.bucket_key
        offset 0  -- keeps the subquery a per-bucket probe (not flattened into a join)
    ) as e
)
{% else %}
with events as (
    select * from {{ ref('cost_event_billing') }}
)
{% endif %}

select
    bucket_key,
    customer_slug,
    billing_period_start,
    line_key,
    line_type,
    coalesce(team, 'unallocated') as team,
    coalesce(project, 'unallocated') as project,
    coalesce(cost_center, 'unallocated') as cost_center,
    coalesce(end_user_id, 'unallocated') as end_user_id,
    min(charge_class) as charge_class,
    min(provider) as provider,
    min(model) as model,
    min(correction_of_period) as correction_of_period,
    min(cost_event_id) as first_cost_event_id,
    count(*) as requests,
    sum(input_tokens)::bigint as input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(input_tokens + output_tokens)::bigint as tokens,
    sum(provider_cost) as provider_cost,
    sum(markup_amount) as markup,
    sum(customer_cost) as weight,
    -- pricing plans (docs/billing/plans.md): the attributed savings (baseline − actual, as the
    -- savings mart) and the provider spend of events recorded without a flat markup
    sum(coalesce(baseline_cost, provider_cost) - provider_cost) as savings,
    coalesce(sum(provider_cost) filter (where markup_amount = 0), 0) as unmarked_provider_cost,
    max(loaded_at) as last_loaded_at,
    min(finalisations_digest) as finalisations_digest,
    now() as built_at
from events
group by bucket_key, customer_slug, billing_period_start, line_key, line_type, 6, 7, 8, 9
