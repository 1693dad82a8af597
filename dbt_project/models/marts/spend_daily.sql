-- Spend per UTC day by customer, gateway key, end user, tags (team, project, cost_center),
-- provider and model: requests, tokens by kind, provider cost, markup, customer cost, baseline
-- and savings. Incremental: each run recomputes whole days touched by requests or cost events
-- the business vault (re)built since this model last ran (macros/built_since_last_run.sql), so
-- late rows land in their own day.
-- The touched days are looked up when the model is compiled and written in as literals, so the
-- refresh reads those days by index instead of hashing every request and cost event.
-- grain_key (a digest of the grain below the date) lets spend_monthly re-sum only the groups a
-- refresh touched.
{{ config(
    materialized='incremental',
    unique_key='usage_date',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
      {'columns': ['usage_date']},
      {'columns': ['customer_slug', 'usage_date']},
      {'columns': ['grain_key', 'usage_date']},
      {'columns': ['loaded_at']},
      {'columns': ['built_at']},
    ],
) }}


with requests as (
    select b.*
    from {{ ref('bridge_api_request') }} as b
    {% if is_incremental() %}
    where b.request_date in {{ touched_values(touched_request_dates_sql(), 'date') }}
    {% endif %}
)

select
    r.request_date as usage_date,
    r.customer_slug,
    r.gateway_key_id,
    r.end_user_id,
    r.team,
    r.project,
    r.cost_center,
    r.provider,
    r.model,
    md5(jsonb_build_array(
        r.customer_slug, r.gateway_key_id, r.end_user_id, r.team, r.project, r.cost_center,
        r.provider, r.model
    )::text)::uuid as grain_key,
    count(*) as requests,
    count(*) filter (where r.status = 'success') as successful_requests,
    count(*) filter (where r.status <> 'success') as failed_requests,
    sum(r.input_tokens)::bigint as input_tokens,
    sum(r.output_tokens)::bigint as output_tokens,
    sum(r.cached_input_tokens)::bigint as cached_input_tokens,
    sum(r.reasoning_tokens)::bigint as reasoning_tokens,
    sum(r.input_tokens + r.output_tokens)::bigint as total_tokens,
    coalesce(sum(c.provider_cost), 0)::numeric(24,12) as provider_cost,
    coalesce(sum(c.markup_amount), 0)::numeric(24,12) as markup,
    coalesce(sum(c.customer_cost), 0)::numeric(24,12) as customer_cost,
    coalesce(sum(coalesce(c.baseline_cost, c.provider_cost)), 0)::numeric(24,12) as baseline_cost,
    coalesce(sum(coalesce(c.baseline_cost, c.provider_cost) - c.provider_cost), 0)::numeric(24,12) as savings,
    greatest(max(r.loaded_at), max(c.loaded_at)) as loaded_at,
    now() as built_at
from requests as r
left join {{ ref('sat_cost_event_computed') }} as c on c.cost_event_hk = r.cost_event_hk
group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
