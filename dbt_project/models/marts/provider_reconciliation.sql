-- OneVault's provider cost against the provider's own bill, per UTC day × provider × model
-- (docs/billing/reconciliation.md). OneVault's side: the cost events of the requests of that
-- day (cache hits excluded: the provider never saw them), as sat_cost_event_computed has them;
-- the provider's side: the current lines of its cost report (OpenAI Costs API, Anthropic cost
-- report, Azure / GCP billing exports) from the raw vault (sql/020). Usage reports add the
-- provider's token counts, so a mismatch says whether the tokens (usage: an event missing on
-- one side) or the price (same tokens, other money) differ.
--
-- Only (day, provider) pairs with an imported cost report are reconciled: a day the provider
-- has not reported yet is not "missing", it is not due. Models are matched on normalised names
-- (lower-case, snapshot date or -latest dropped; warehouse/reconciliation/lines.py).
--
-- Status: matched when |variance| <= greatest(var reconciliation_tolerance_abs (0.0001),
-- var reconciliation_tolerance_pct (0.5) % of the larger side); over when the provider billed
-- more than OneVault recorded, under when less; missing when only one side has the model.
-- The provider project / workspace / key ids it reported are listed (OneVault cannot split its
-- own side by them: it does not know which provider project a key belongs to).
--
-- Incremental: whole days are recomputed — the imported days among those with requests or cost
-- events rebuilt since the last run (macros/touched_values.sql) and those with a report
-- imported since then. Those days are found at compile time: where no report was ever
-- imported (e.g. the warehouse benchmark) the model reads nothing else.
{{ config(
    materialized='incremental',
    unique_key='usage_date',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
      {'columns': ['usage_date']},
      {'columns': ['status', 'usage_date']},
      {'columns': ['built_at']},
    ],
) }}

{% set cost_sources = "('openai-costs-api', 'anthropic-cost-report', 'azure-cost-export', 'gcp-billing-export')" %}
{% set usage_sources = "('openai-usage-api', 'anthropic-usage-report')" %}
{% set tolerance_abs = var('reconciliation_tolerance_abs', 0.0001) %}
{% set tolerance_pct = var('reconciliation_tolerance_pct', 0.5) %}
{% set model_rule = "regexp_replace(lower(trim(%s)), '-([0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8}|latest)$', '')" %}

{%- set imported_sql -%}
    select distinct usage_date from {{ source('provider_reports', 'sat_provider_report_import') }}
    where record_source in {{ cost_sources }}
{%- endset -%}
{%- set imported = query_values(imported_sql) -%}
{%- if is_incremental() and imported -%}
    {%- set fresh_sql -%}
        {{ touched_request_dates_sql() }}
        union
        select usage_date from {{ source('provider_reports', 'sat_provider_report_import') }}
        where load_dts > (
            select coalesce(max(built_at), '-infinity'::timestamptz) - interval '{{ var("lookback_minutes") }} minutes'
            from {{ this }}
        )
    {%- endset -%}
    {%- set fresh = query_values(fresh_sql) -%}
    {%- set days = imported | select('in', fresh) | list -%}
{%- else -%}
    {%- set days = imported -%}
{%- endif %}

with imports as (
    select distinct usage_date, provider
    from {{ ref('stg_sat_provider_report_import') }}
    where is_current
      and record_source in {{ cost_sources }}
      and usage_date in {{ sql_list(days, 'date') }}
),

lines as (
    select *
    from {{ ref('stg_sat_provider_report_line') }}
    where is_current
      and not is_deleted
      and usage_date in {{ sql_list(days, 'date') }}
),

reported_cost as (
    select
        usage_date,
        provider,
        coalesce(model, '(unattributed)') as model,
        sum(amount) as provider_cost,
        string_agg(distinct currency, ',') as currency,
        array_remove(array_agg(distinct project_id order by project_id), null) as provider_projects,
        array_remove(array_agg(distinct api_key_id order by api_key_id), null) as provider_api_keys,
        array_agg(distinct record_source order by record_source) as report_sources,
        max(load_dts) as report_loaded_at
    from lines
    where record_source in {{ cost_sources }} and amount is not null
    group by 1, 2, 3
),

reported_usage as (
    select
        usage_date,
        provider,
        coalesce(model, '(unattributed)') as model,
        sum(input_tokens)::bigint as input_tokens,
        sum(output_tokens)::bigint as output_tokens,
        sum(requests)::bigint as requests
    from lines
    where record_source in {{ usage_sources }}
    group by 1, 2, 3
),

recorded as (
    select
        b.request_date as usage_date,
        b.provider,
        {{ model_rule % 'b.model' }} as model,
        sum(c.provider_cost) as provider_cost,
        sum(c.input_tokens)::bigint as input_tokens,
        sum(c.output_tokens)::bigint as output_tokens,
        count(*) as requests,
        max(c.loaded_at) as loaded_at
    from {{ ref('bridge_api_request') }} as b
    join {{ ref('sat_cost_event_computed') }} as c on c.cost_event_hk = b.cost_event_hk
    where b.request_date in {{ sql_list(days, 'date') }}
      and coalesce(c.optimisation, 'none') not like 'cache%'
      and b.provider is not null
    group by 1, 2, 3
),

compared as (
    select
        coalesce(r.usage_date, o.usage_date) as usage_date,
        coalesce(r.provider, o.provider) as provider,
        coalesce(r.model, o.model) as model,
        coalesce(o.provider_cost, 0)::numeric(24,12) as onevault_cost,
        coalesce(r.provider_cost, 0)::numeric(24,12) as provider_cost,
        r.provider_cost is not null as provider_reported,
        o.provider_cost is not null as onevault_recorded,
        r.currency,
        o.requests as onevault_requests,
        o.input_tokens as onevault_input_tokens,
        o.output_tokens as onevault_output_tokens,
        u.requests as provider_requests,
        u.input_tokens as provider_input_tokens,
        u.output_tokens as provider_output_tokens,
        coalesce(r.provider_projects, '{}') as provider_projects,
        coalesce(r.provider_api_keys, '{}') as provider_api_keys,
        coalesce(r.report_sources, '{}') as report_sources,
        r.report_loaded_at,
        o.loaded_at as onevault_loaded_at
    from reported_cost as r
    full join recorded as o
      on o.usage_date = r.usage_date and o.provider = r.provider and o.model = r.model
    left join reported_usage as u
      on u.usage_date = coalesce(r.usage_date, o.usage_date)
     and u.provider = coalesce(r.provider, o.provider)
     and u.model = coalesce(r.model, o.model)
),

judged as (
    select
        c.*,
        (c.provider_cost - c.onevault_cost)::numeric(24,12) as variance,
        greatest(
            {{ tolerance_abs }}::numeric,
            {{ tolerance_pct }}::numeric / 100 * greatest(abs(c.provider_cost), abs(c.onevault_cost))
        )::numeric(24,12) as tolerance
    from compared as c
    join imports as i on i.usage_date = c.usage_date and i.provider = c.provider
)

select
    usage_date,
    provider,
    model,
    currency,
    onevault_cost,
    provider_cost,
    variance,
    case when onevault_cost <> 0 then round(100 * variance / onevault_cost, 4) end as variance_pct,
    tolerance,
    case
        when abs(variance) <= tolerance then 'matched'
        when not provider_reported or not onevault_recorded then 'missing'
        when variance > 0 then 'over'
        else 'under'
    end as status,
    case
        when abs(variance) <= tolerance then null
        when not provider_reported then 'provider'
        when not onevault_recorded then 'onevault'
    end as missing_from,
    case
        when abs(variance) <= tolerance then null
        when provider_input_tokens is null then null
        when provider_input_tokens = coalesce(onevault_input_tokens, 0)
         and provider_output_tokens = coalesce(onevault_output_tokens, 0) then 'price'
        else 'usage'
    end as likely_cause,
    onevault_requests,
    provider_requests,
    onevault_input_tokens,
    provider_input_tokens,
    onevault_output_tokens,
    provider_output_tokens,
    provider_projects,
    provider_api_keys,
    report_sources,
    report_loaded_at,
    onevault_loaded_at,
    now() as built_at
from judged
