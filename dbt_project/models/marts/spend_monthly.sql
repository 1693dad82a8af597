-- Spend per calendar month (UTC) at the same grain as spend_daily (rolled up from it).
-- Incremental: the (month, grain) groups with a spend_daily row rebuilt since this model last
-- ran are re-summed from their days (≤ 31 rows each, by spend_daily's grain_key index), so new
-- traffic does not re-read the whole open month.
{{ config(
    materialized='incremental',
    unique_key=['grain_key', 'usage_month'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
      {'columns': ['grain_key', 'usage_month'], 'unique': True},
      {'columns': ['customer_slug', 'usage_month']},
      {'columns': ['built_at']},
    ],
) }}

{% if is_incremental() %}
with touched as (
    select distinct grain_key, date_trunc('month', usage_date)::date as month_start
    from {{ ref('spend_daily') }}
    where {{ built_since_last_run(ref('spend_daily'), 'built_at') }}
),

days as (
    -- each touched group's days of the month, by the (grain_key, usage_date) index (lateral:
    -- a probe per group whatever the planner guesses of how many groups there are)
    select d.*, t.month_start as usage_month
    from touched as t
    cross join lateral (
        select * from {{ ref('spend_daily') }} as s
        where s.grain_key = t.grain_key
          and s.usage_date >= t.month_start
          and s.usage_date < (t.month_start + interval '1 month')::date
        offset 0  -- keeps the subquery a per-group probe (not flattened into a join)
    ) as d
)
{% else %}
with days as (
    select d.*, date_trunc('month', d.usage_date)::date as usage_month
    from {{ ref('spend_daily') }} as d
)
{% endif %}

select
    usage_month,
    customer_slug,
    gateway_key_id,
    end_user_id,
    team,
    project,
    cost_center,
    provider,
    model,
    grain_key,
    sum(requests)::bigint as requests,
    sum(successful_requests)::bigint as successful_requests,
    sum(failed_requests)::bigint as failed_requests,
    sum(input_tokens)::bigint as input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(cached_input_tokens)::bigint as cached_input_tokens,
    sum(reasoning_tokens)::bigint as reasoning_tokens,
    sum(total_tokens)::bigint as total_tokens,
    sum(provider_cost)::numeric(24,12) as provider_cost,
    sum(markup)::numeric(24,12) as markup,
    sum(customer_cost)::numeric(24,12) as customer_cost,
    sum(baseline_cost)::numeric(24,12) as baseline_cost,
    sum(savings)::numeric(24,12) as savings,
    max(loaded_at) as loaded_at,
    now() as built_at
from days
group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
