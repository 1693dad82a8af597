-- Spend per UTC day by customer, gateway key, end user, tags (team, project, cost_center),
-- provider and model: requests, tokens by kind, provider cost, markup, customer cost, baseline
-- and savings. Incremental: each run recomputes whole days touched by requests or cost events
-- loaded since the newest row built (minus the lookback), so late rows land in their own day.
{{ config(
    materialized='incremental',
    unique_key='usage_date',
    incremental_strategy='delete+insert',
    indexes=[{'columns': ['usage_date']}, {'columns': ['customer_slug', 'usage_date']}],
) }}

with
{% if is_incremental() %}
touched as (
    select distinct request_date as usage_date
    from {{ ref('bridge_api_request') }}
    where {{ loaded_since_last_run('loaded_at') }}
    union
    select distinct (b.request_ts at time zone 'UTC')::date
    from {{ ref('sat_cost_event_computed') }} as c
    join {{ ref('bridge_api_request') }} as b on b.api_request_hk = c.api_request_hk
    where {{ loaded_since_last_run('c.loaded_at') }}
),
{% endif %}

requests as (
    select b.*
    from {{ ref('bridge_api_request') }} as b
    {% if is_incremental() %}
    where b.request_date in (select usage_date from touched)
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
    greatest(max(r.loaded_at), max(c.loaded_at)) as loaded_at
from requests as r
left join {{ ref('sat_cost_event_computed') }} as c on c.cost_event_hk = r.cost_event_hk
group by 1, 2, 3, 4, 5, 6, 7, 8, 9
