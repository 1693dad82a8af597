-- Σ an invoice's usage and cache lines (unrounded) = Σ customer_cost of that customer's cost
-- events in the month, to the cent and beyond — computed here straight from staging, not from
-- the models under test. A finalised month counts only events loaded by its finalised_at.
with finalised as (
    select customer_slug, period_start, min(load_dts) as finalised_at
    from {{ ref('stg_sat_invoice_snapshot') }}
    where status = 'finalised'
    group by 1, 2
),

events as (
    select
        hc.customer_slug,
        date_trunc('month', d.event_ts at time zone 'UTC')::date as period_start,
        d.customer_cost,
        d.load_dts
    from {{ ref('stg_sat_cost_event_details') }} as d
    join {{ ref('stg_lnk_cost_event_api_request') }} as lc on lc.cost_event_hk = d.cost_event_hk
    join {{ ref('stg_lnk_api_request_context') }} as ctx on ctx.api_request_hk = lc.api_request_hk
    join {{ ref('stg_hub_customer') }} as hc on hc.customer_hk = ctx.customer_hk
    where d.is_current
),

expected as (
    select e.customer_slug, e.period_start, sum(e.customer_cost) as customer_cost
    from events as e
    left join finalised as f on f.customer_slug = e.customer_slug and f.period_start = e.period_start
    where f.finalised_at is null or e.load_dts <= f.finalised_at
    group by 1, 2
),

billed as (
    select customer_slug, billing_period_start as period_start, sum(amount_exact) as amount_exact
    from {{ ref('invoice_lines') }}
    where line_type in ('usage', 'cache')
    group by 1, 2
)

select *
from expected as e
full join billed as b using (customer_slug, period_start)
where coalesce(e.customer_cost, 0) <> coalesce(b.amount_exact, 0)
