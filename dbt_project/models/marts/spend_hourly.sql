-- Spend and requests per UTC hour (of request_ts) by customer, gateway key and model: the series
-- spend_anomalies judges. Money as in spend_daily: the requests' cost events from
-- sat_cost_event_computed (customer cost = provider cost + markup), failed requests counted.
-- Windowed: a cold build reads only the recent weeks the anomaly baseline can use (the newest
-- request date minus anomaly_baseline_weeks weeks and anomaly_eval_days days), not the vault's
-- whole history. Incremental: each run recomputes whole hours touched by requests or cost events
-- the business vault (re)built since this model last ran, the hours (and their dates, for the
-- bridge's request_date index) written in as literals at compile time.
{{ config(
    materialized='incremental',
    unique_key='hour_start',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
      {'columns': ['hour_start']},
      {'columns': ['grain_key', 'hour_start']},
      {'columns': ['customer_slug', 'hour_start']},
      {'columns': ['built_at']},
    ],
) }}

{% if is_incremental() %}
{% set hours = query_values(touched_request_hours_sql()) %}
{% else %}
{% set newest = query_values("select max(request_date) from " ~ ref('bridge_api_request')) %}
{% set days_back = anomaly_setting('anomaly_baseline_weeks') * 7 + anomaly_setting('anomaly_eval_days') %}
{% endif %}

with requests as (
    select b.*, date_trunc('hour', b.request_ts, 'UTC') as hour_start
    from {{ ref('bridge_api_request') }} as b
    {% if is_incremental() %}
    where b.request_date in (
        select distinct (h at time zone 'UTC')::date from unnest({{ sql_array(hours, 'timestamptz') }}) as h
    )
      and date_trunc('hour', b.request_ts, 'UTC') = any({{ sql_array(hours, 'timestamptz') }})
    {% elif newest | length > 0 %}
    where b.request_date >= '{{ newest[0] }}'::date - {{ days_back }}
    {% endif %}
)

select
    r.hour_start,
    r.customer_slug,
    r.gateway_key_id,
    r.provider,
    r.model,
    md5(jsonb_build_array(r.customer_slug, r.gateway_key_id, r.provider, r.model)::text)::uuid as grain_key,
    count(*) as requests,
    count(*) filter (where r.status <> 'success') as failed_requests,
    sum(r.input_tokens + r.output_tokens)::bigint as total_tokens,
    coalesce(sum(c.provider_cost), 0)::numeric(24,12) as provider_cost,
    coalesce(sum(c.customer_cost), 0)::numeric(24,12) as customer_cost,
    max(r.request_ts) as last_request_ts,
    greatest(max(r.loaded_at), max(c.loaded_at)) as loaded_at,
    now() as built_at
from requests as r
left join {{ ref('sat_cost_event_computed') }} as c on c.cost_event_hk = r.cost_event_hk
group by 1, 2, 3, 4, 5, 6
