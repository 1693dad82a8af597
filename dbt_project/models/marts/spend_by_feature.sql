-- Spend per UTC day by customer and feature: what agent traffic, tool calls, vision, audio,
-- files, structured output and reasoning cost, from the request columns of sql/013.
-- A request counts under every feature it used (an agent request with an image is in 'agent'
-- and in 'vision'), and under 'plain' when it used none: rows of one day overlap, so sum
-- across features only within one feature (spend_daily has the day's total).
-- Features of a request (its current details row):
--   agent             tools_offered > 0                 tool_calling  tool_calls_returned > 0
--   vision            'image' part or image tokens      audio         'audio' part or audio tokens
--   file              'file' part                       structured_output  json_object | json_schema
--   reasoning         reasoning_effort asked (not 'none') or reasoning tokens reported
-- Incremental like spend_daily: each run recomputes whole days touched by requests or cost
-- events the business vault (re)built since this model last ran, the days written in as
-- literals when the model is compiled so the refresh reads them by index. The feature columns
-- come from the very details row the bridge was built from (its primary key: api_request_hk,
-- load_dts = the bridge's loaded_at), so the bridge's schema stays as it is.
{{ config(
    materialized='incremental',
    unique_key='usage_date',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
      {'columns': ['usage_date']},
      {'columns': ['customer_slug', 'feature', 'usage_date']},
      {'columns': ['built_at']},
    ],
) }}


with requests as (
    select
        b.api_request_hk,
        b.request_date,
        b.customer_slug,
        b.status,
        b.cost_event_hk,
        b.input_tokens,
        b.output_tokens,
        b.cached_input_tokens,
        b.reasoning_tokens,
        b.loaded_at,
        coalesce(d.tools_offered, 0) as tools_offered,
        coalesce(d.tool_calls_returned, 0) as tool_calls_returned,
        coalesce(d.input_modalities, '{}'::text[]) as input_modalities,
        d.response_format,
        d.reasoning_effort,
        coalesce(d.validation_status, 'not_applicable') as validation_status,
        coalesce(d.cache_write_tokens, 0) as cache_write_tokens,
        coalesce(d.audio_input_tokens, 0) as audio_input_tokens,
        coalesce(d.image_input_tokens, 0) as image_input_tokens
    from {{ ref('bridge_api_request') }} as b
    join {{ source('raw_vault', 'sat_api_request_details') }} as d
      on d.api_request_hk = b.api_request_hk and d.load_dts = b.loaded_at
    {% if is_incremental() %}
    where b.request_date in {{ touched_values(touched_request_dates_sql(), 'date') }}
    {% endif %}
),

used as (
    -- one row per request and feature it used; 'plain' for a request that used none
    select r.*, f.feature
    from requests as r
    cross join lateral unnest(coalesce(nullif(array_remove(array[
        case when r.tools_offered > 0 then 'agent' end,
        case when r.tool_calls_returned > 0 then 'tool_calling' end,
        case when 'image' = any(r.input_modalities) or r.image_input_tokens > 0 then 'vision' end,
        case when 'audio' = any(r.input_modalities) or r.audio_input_tokens > 0 then 'audio' end,
        case when 'file' = any(r.input_modalities) then 'file' end,
        case when r.response_format in ('json_object', 'json_schema') then 'structured_output' end,
        case when r.reasoning_effort <> 'none' or r.reasoning_tokens > 0 then 'reasoning' end
    ], null), '{}'), array['plain'])) as f(feature)
)

select
    u.request_date as usage_date,
    u.customer_slug,
    u.feature,
    count(*) as requests,
    count(*) filter (where u.status = 'success') as successful_requests,
    count(*) filter (where u.status <> 'success') as failed_requests,
    count(*) filter (where u.validation_status = 'failed') as invalid_outputs,
    sum(u.tools_offered)::bigint as tools_offered,
    sum(u.tool_calls_returned)::bigint as tool_calls_returned,
    sum(u.input_tokens)::bigint as input_tokens,
    sum(u.output_tokens)::bigint as output_tokens,
    sum(u.cached_input_tokens)::bigint as cached_input_tokens,
    sum(u.cache_write_tokens)::bigint as cache_write_tokens,
    sum(u.reasoning_tokens)::bigint as reasoning_tokens,
    sum(u.image_input_tokens)::bigint as image_input_tokens,
    sum(u.audio_input_tokens)::bigint as audio_input_tokens,
    sum(u.input_tokens + u.output_tokens)::bigint as total_tokens,
    coalesce(sum(c.provider_cost), 0)::numeric(24,12) as provider_cost,
    coalesce(sum(c.markup_amount), 0)::numeric(24,12) as markup,
    coalesce(sum(c.customer_cost), 0)::numeric(24,12) as customer_cost,
    greatest(max(u.loaded_at), max(c.loaded_at)) as loaded_at,
    now() as built_at
from used as u
left join {{ ref('sat_cost_event_computed') }} as c on c.cost_event_hk = u.cost_event_hk
group by 1, 2, 3
