-- The request bridge: one row per request with every hub it touches (customer, gateway key,
-- provider, model, provider key, routing rule, end user, cost event) resolved to business keys,
-- its current details and its tags. Incremental on the details' load_dts with a lookback, so a
-- rebuild after new traffic reads only the new requests; a details row the lookback re-reads
-- that is already built as it is (same request, same load_dts) is skipped, so the models
-- downstream (which read rows by built_at, macros/built_since_last_run.sql) see only what
-- changed. Plain joins, so PostgreSQL hashes a cold build and probes indexes for a small
-- increment. A request has one context link (its key hashes every hub key of the request); the
-- unique test on api_request_hk would catch two.
-- Tags are read from the raw satellite, latest row per tag key, per request by its index: a
-- staging view's window cannot be narrowed to the requests being built.
-- Indexed for the console too: its request log by customer and time, by time alone (operators)
-- and by key and time (a key's requests, a key's last use).
{{ config(
    materialized='incremental',
    unique_key='api_request_hk',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
      {'columns': ['api_request_hk'], 'unique': True},
      {'columns': ['loaded_at']},
      {'columns': ['customer_slug', 'request_ts']},
      {'columns': ['request_ts']},
      {'columns': ['customer_slug', 'gateway_key_id', 'request_ts']},
      {'columns': ['request_date']},
      {'columns': ['built_at']},
    ],
) }}

with details as (
    -- The latest details row of each request loaded since the last run: read from the raw
    -- satellite, because a filter on load_dts cannot reach below the staging view's lead()
    -- window, and a refresh must not re-read every request. Same rows as the staging view's
    -- is_current ones (the newest row of a key is always among the newly loaded ones).
    select distinct on (s.api_request_hk) s.*
    from {{ source('raw_vault', 'sat_api_request_details') }} as s
    {% if is_incremental() %}
    where {{ loaded_since_last_run('s.load_dts') }}
    {% endif %}
    order by s.api_request_hk, s.load_dts desc
),

{% if is_incremental() %}
fresh as (
    -- a row the lookback re-read that is already built from the same details row is skipped
    select d.* from details as d
    where {{ not_built_from_same_row('d', 'api_request_hk') }}
),
{% endif %}

ghost as (select {{ ghost_key() }} as hk)

select
    d.api_request_hk,
    hr.request_id,
    ctx.customer_hk,
    hc.customer_slug,
    ctx.gateway_key_hk,
    nullif(hg.gateway_key_id, '(unknown)') as gateway_key_id,
    ctx.provider_hk,
    nullif(hm.provider, '(unknown)') as provider,
    ctx.model_hk,
    nullif(hm.model, '(unknown)') as model,
    ctx.provider_key_hk,
    case when ctx.provider_key_hk <> ghost.hk then hpk.provider_key_id end as provider_key_id,
    ctx.routing_rule_hk,
    case when ctx.routing_rule_hk <> ghost.hk then hrr.routing_rule_id end as routing_rule_id,
    ctx.end_user_hk,
    case when ctx.end_user_hk <> ghost.hk then heu.end_user_id end as end_user_id,
    coalesce(ce.cost_event_hk, ghost.hk) as cost_event_hk,
    d.request_ts,
    (d.request_ts at time zone 'UTC')::date as request_date,
    d.endpoint,
    d.request_type,
    d.priority,
    d.status,
    d.http_status,
    d.error_code,
    d.stream,
    d.cache_status,
    d.latency_ms,
    d.attempt_count,
    coalesce(d.input_tokens, 0) as input_tokens,
    coalesce(d.output_tokens, 0) as output_tokens,
    coalesce(d.cached_input_tokens, 0) as cached_input_tokens,
    coalesce(d.reasoning_tokens, 0) as reasoning_tokens,
    tags.tags ->> 'team' as team,
    tags.tags ->> 'project' as project,
    tags.tags ->> 'cost_center' as cost_center,
    coalesce(tags.tags, '{}'::jsonb) as tags,
    d.load_dts as loaded_at,
    now() as built_at
from {{ 'fresh' if is_incremental() else 'details' }} as d
cross join ghost
join {{ ref('stg_hub_api_request') }} as hr on hr.api_request_hk = d.api_request_hk
join {{ ref('stg_lnk_api_request_context') }} as ctx on ctx.api_request_hk = d.api_request_hk
join {{ ref('stg_hub_customer') }} as hc on hc.customer_hk = ctx.customer_hk
join {{ ref('stg_hub_gateway_key') }} as hg on hg.gateway_key_hk = ctx.gateway_key_hk
join {{ ref('stg_hub_model') }} as hm on hm.model_hk = ctx.model_hk
join {{ ref('stg_hub_provider_key') }} as hpk on hpk.provider_key_hk = ctx.provider_key_hk
join {{ ref('stg_hub_routing_rule') }} as hrr on hrr.routing_rule_hk = ctx.routing_rule_hk
join {{ ref('stg_hub_end_user') }} as heu on heu.end_user_hk = ctx.end_user_hk
left join {{ ref('stg_lnk_cost_event_api_request') }} as ce on ce.api_request_hk = d.api_request_hk
left join lateral (
    -- the request's current tags, by its primary-key index (a few rows per request)
    select jsonb_object_agg(latest.tag_key, latest.tag_value) as tags
    from (
        select distinct on (t.tag_key) t.tag_key, t.tag_value
        from {{ source('raw_vault', 'sat_api_request_tags') }} as t
        where t.api_request_hk = d.api_request_hk
        order by t.tag_key, t.load_dts desc
    ) as latest
) as tags on true
where d.api_request_hk <> ghost.hk
