-- Where each cost event is billed (the rule for late events, in one place): on its own month
-- when that month is open or the event was loaded at or before the month's finalised_at;
-- otherwise (a *late* event) as a correction of its own on the earliest later month that was
-- not yet finalised when the event was loaded. line_key names the invoice line it lands on.
-- Incremental: a refresh places only the cost events sat_cost_event_computed (re)built since
-- this model last ran (macros/built_since_last_run.sql); when invoice_finalisations changed
-- since the rows were placed (a billing run), everything is placed again
-- (macros/finalisations_digest.sql). bucket_key names the
-- chargeback bucket (invoice line × team × project × cost center × end user) an event adds to,
-- so chargeback_weights re-sums only the buckets new events touched.
{{ config(
    materialized='incremental',
    unique_key='cost_event_hk',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ reset_when_finalisations_change() }}",
    indexes=[
      {'columns': ['cost_event_hk'], 'unique': True},
      {'columns': ['bucket_key']},
      {'columns': ['built_at']},
    ],
) }}

with events as (
    select
        e.*,
        coalesce(e.loaded_at > f.finalised_at, false) as is_late
    from {{ ref('sat_cost_event_computed') }} as e
    left join {{ ref('invoice_finalisations') }} as f
      on f.customer_slug = e.customer_slug
     and f.billing_period_start = e.event_period
    {% if not finalisations_changed() %}
    where {{ built_since_last_run(ref('sat_cost_event_computed'), 'e.built_at') }}
    {% endif %}
),

late_target as (
    -- The earliest non-finalised month after the event's month is either the next month or the
    -- month right after some later finalised month: try those, keep the first that was not
    -- finalised before the event was loaded.
    select l.cost_event_hk, min(candidate.period) as billing_period_start
    from events as l
    cross join lateral (
        select (l.event_period + interval '1 month')::date as period
        union
        select (f.billing_period_start + interval '1 month')::date
        from {{ ref('invoice_finalisations') }} as f
        where f.customer_slug = l.customer_slug
          and f.billing_period_start > l.event_period
          and f.finalised_at < l.loaded_at
    ) as candidate
    where l.is_late
      and not exists (
        select 1
        from {{ ref('invoice_finalisations') }} as f
        where f.customer_slug = l.customer_slug
          and f.billing_period_start = candidate.period
          and f.finalised_at < l.loaded_at
    )
    group by l.cost_event_hk
),

placed as (
    select
        e.*,
        case
            when e.is_late then 'correction'
            when e.optimisation like 'cache%' then 'cache'
            else 'usage'
        end as line_type,
        coalesce(t.billing_period_start, e.event_period) as billing_period_start
    from events as e
    left join late_target as t on t.cost_event_hk = e.cost_event_hk
)

select
    cost_event_hk,
    cost_event_id,
    customer_slug,
    billing_period_start,
    line_type,
    case when is_late then 'correction' else 'regular' end as charge_class,
    line_key,
    case when is_late then event_period end as correction_of_period,
    event_period,
    event_ts,
    loaded_at,
    is_late,
    provider,
    model,
    gateway_key_id,
    end_user_id,
    team,
    project,
    cost_center,
    input_tokens,
    output_tokens,
    provider_cost,
    markup_amount,
    customer_cost,
    baseline_cost,
    optimisation,
    md5(jsonb_build_array(
        customer_slug, billing_period_start, line_key,
        coalesce(team, 'unallocated'), coalesce(project, 'unallocated'),
        coalesce(cost_center, 'unallocated'), coalesce(end_user_id, 'unallocated')
    )::text)::uuid as bucket_key,
    '{{ finalisations_digest() }}'::text as finalisations_digest,
    now() as built_at
from (
    select
        *,
        case line_type
            when 'usage' then 'usage|' || coalesce(provider, '') || '|' || coalesce(model, '')
            when 'cache' then 'cache'
            else 'correction|' || cost_event_id
        end as line_key
    from placed
) as keyed
