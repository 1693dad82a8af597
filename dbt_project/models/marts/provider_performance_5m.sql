-- Provider performance in 5-minute windows per provider and model, from every upstream try
-- (a failover counts against the provider that failed). Latency percentiles (percentile_cont)
-- are over successful tries, so a timeout's 30 s does not pose as latency; error_rate and
-- availability are failures and successes over all tries. Cost is the charged requests' provider
-- cost, credited to the window and pair of their successful try. Incremental: windows touched
-- by tries loaded since the newest row built (minus the lookback) are recomputed whole.
-- loaded_at = newest load_dts among the window's tries (how fresh the window is).
-- platform_* count only the tries on the platform's own key (provider_key_hk is the ghost): a
-- customer's own key or base URL is another upstream, and its failures must not move the
-- routing numbers the gateway reads back for everyone (gateway/routing/performance.py).
-- Reads the raw attempt satellite (latest row per try) so a refresh touches only its windows.
{{ config(
    materialized='incremental',
    unique_key='window_start',
    incremental_strategy='delete+insert',
    on_schema_change='append_new_columns',
    indexes=[{'columns': ['window_start']}, {'columns': ['provider', 'model', 'window_start']}],
) }}

{% if is_incremental() %}
{% set touched_sql %}
    select distinct to_timestamp(floor(extract(epoch from started_ts) / 300) * 300)
    from {{ source('raw_vault', 'sat_api_request_attempt') }}
    where {{ loaded_since_last_run('load_dts') }}
{% endset %}
{% set touched = query_values(touched_sql) %}
{% endif %}

with scoped as (
    -- The latest row of every try in the windows to build, from the raw satellite: its
    -- started_ts index finds a window's tries, which the staging view's lead() would hide.
    -- The touched windows are literals (looked up at compile time), so the planner reads
    -- their range by index.
    select distinct on (a.api_request_hk, a.attempt_no)
        a.*,
        a.provider_bk as provider,
        a.model_bk as model,
        to_timestamp(floor(extract(epoch from a.started_ts) / 300) * 300) as window_start,
        {{ is_ghost('a.provider_key_hk') }} as on_platform_key
    from {{ source('raw_vault', 'sat_api_request_attempt') }} as a
    {% if is_incremental() %}
    {% if touched %}
    where a.started_ts >= '{{ touched | first }}'::timestamptz
      and a.started_ts < '{{ touched | last }}'::timestamptz + interval '5 minutes'
      and to_timestamp(floor(extract(epoch from a.started_ts) / 300) * 300) in {{ sql_list(touched, 'timestamptz') }}
    {% else %}
    where false
    {% endif %}
    {% endif %}
    order by a.api_request_hk, a.attempt_no, a.load_dts desc
),

costed as (
    select
        s.*,
        c.provider_cost as request_provider_cost
    from scoped as s
    left join {{ ref('bridge_api_request') }} as b
      on s.outcome = 'success'
     and b.api_request_hk = s.api_request_hk
     and b.provider = s.provider
     and b.model = s.model
    left join {{ ref('sat_cost_event_computed') }} as c on c.cost_event_hk = b.cost_event_hk
)

select
    window_start,
    window_start + interval '5 minutes' as window_end,
    provider,
    model,
    count(*)::bigint as attempts,
    count(*) filter (where outcome = 'success')::bigint as successes,
    count(*) filter (where outcome <> 'success')::bigint as failures,
    count(*) filter (where outcome <> 'success' and error_class = 'rate_limited')::bigint as failures_rate_limited,
    count(*) filter (where outcome <> 'success' and error_class = 'server_error')::bigint as failures_server_error,
    count(*) filter (where outcome <> 'success' and error_class = 'timeout')::bigint as failures_timeout,
    count(*) filter (
        where outcome <> 'success'
          and coalesce(error_class, '') not in ('rate_limited', 'server_error', 'timeout')
    )::bigint as failures_other,
    (percentile_cont(0.50) within group (order by latency_ms) filter (where outcome = 'success'))::numeric as p50_latency_ms,
    (percentile_cont(0.95) within group (order by latency_ms) filter (where outcome = 'success'))::numeric as p95_latency_ms,
    (percentile_cont(0.99) within group (order by latency_ms) filter (where outcome = 'success'))::numeric as p99_latency_ms,
    round(count(*) filter (where outcome <> 'success')::numeric / count(*), 6) as error_rate,
    round(count(*) filter (where outcome = 'success')::numeric / count(*), 6) as availability,
    coalesce(sum(input_tokens), 0)::bigint as input_tokens,
    coalesce(sum(output_tokens), 0)::bigint as output_tokens,
    coalesce(sum(request_provider_cost), 0)::numeric(24,12) as provider_cost,
    round(
        coalesce(sum(request_provider_cost), 0) * 1000
        / nullif(coalesce(sum(input_tokens), 0) + coalesce(sum(output_tokens), 0), 0), 12
    ) as cost_per_1k_tokens,
    max(load_dts) as loaded_at,
    count(*) filter (where on_platform_key)::bigint as platform_attempts,
    count(*) filter (where on_platform_key and outcome = 'success')::bigint as platform_successes,
    (percentile_cont(0.50) within group (order by latency_ms)
        filter (where on_platform_key and outcome = 'success'))::numeric as platform_p50_latency_ms
from costed
group by window_start, provider, model
