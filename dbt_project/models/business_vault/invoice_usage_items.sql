-- Usage on invoices, before rounding: each cost event is billed once, either
--   * on its own month (usage per provider/model, or the month's cache line), when that month is
--     open or the event was loaded at or before the month's finalised_at, or
--   * as a correction line of its own on the earliest later month that was not yet finalised
--     when the event was loaded (a *late* event: its month was finalised before it arrived).
-- So a finalised month is recomputed exactly as it was finalised, and nothing is lost.
with events as (
    select
        e.*,
        f.finalised_at as own_period_finalised_at,
        coalesce(e.loaded_at > f.finalised_at, false) as is_late
    from {{ ref('sat_cost_event_computed') }} as e
    left join {{ ref('invoice_finalisations') }} as f
      on f.customer_slug = e.customer_slug
     and f.billing_period_start = e.event_period
),

late as (
    select * from events where is_late
),

late_target as (
    -- The earliest non-finalised month after the event's month is either the next month or the
    -- month right after some later finalised month: try those, keep the first not finalised
    -- before the event was loaded.
    select l.cost_event_hk, min(candidate.period) as billing_period_start
    from late as l
    cross join lateral (
        select (l.event_period + interval '1 month')::date as period
        union
        select (f.billing_period_start + interval '1 month')::date
        from {{ ref('invoice_finalisations') }} as f
        where f.customer_slug = l.customer_slug
          and f.billing_period_start > l.event_period
          and f.finalised_at < l.loaded_at
    ) as candidate
    where not exists (
        select 1
        from {{ ref('invoice_finalisations') }} as f
        where f.customer_slug = l.customer_slug
          and f.billing_period_start = candidate.period
          and f.finalised_at < l.loaded_at
    )
    group by l.cost_event_hk
)

select
    customer_slug,
    event_period as billing_period_start,
    case when optimisation like 'cache%' then 'cache' else 'usage' end as line_type,
    'regular' as charge_class,
    case when optimisation like 'cache%' then null else provider end as provider,
    case when optimisation like 'cache%' then null else model end as model,
    null::date as correction_of_period,
    null::text as cost_event_id,
    count(*) as requests,
    sum(input_tokens)::bigint as input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(provider_cost) as provider_cost,
    sum(markup_amount) as markup,
    sum(customer_cost) as amount_exact,
    max(loaded_at) as last_loaded_at
from events
where not is_late
group by 1, 2, 3, 4, 5, 6

union all

select
    l.customer_slug,
    t.billing_period_start,
    'correction' as line_type,
    'correction' as charge_class,
    l.provider,
    l.model,
    l.event_period as correction_of_period,
    l.cost_event_id,
    1 as requests,
    l.input_tokens::bigint,
    l.output_tokens::bigint,
    l.provider_cost,
    l.markup_amount as markup,
    l.customer_cost as amount_exact,
    l.loaded_at as last_loaded_at
from late as l
join late_target as t on t.cost_event_hk = l.cost_event_hk
