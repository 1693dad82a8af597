-- One row per customer and calendar month (UTC) that gets an invoice: a month with any usage,
-- cache or correction item (credit grants pay usage, so a credit needs one), or subscribed
-- services in force at its end (from the customer's first configuration through the current
-- month). Each carries the settings that
-- bill it — those in force at the end of the month (the latest configuration loaded before the
-- month's end; for a month before the customer's first configuration, that first one) — and
-- its finalisation, if the billing run has finalised it. Pricing plans (savings share, markup
-- plan: docs/billing/plans.md) are taken from the same settings.
with usage_periods as (
    select distinct customer_slug, billing_period_start from {{ ref('invoice_usage_items') }}
),

subscription_periods as (
    select distinct h.customer_slug, m.period::date as billing_period_start
    from {{ ref('stg_sat_customer_config') }} as s
    join {{ ref('stg_hub_customer') }} as h on h.customer_hk = s.customer_hk
    cross join lateral generate_series(
        date_trunc('month', s.load_dts at time zone 'UTC'),
        date_trunc('month', now() at time zone 'UTC'),
        interval '1 month'
    ) as m(period)
    where cardinality(coalesce(s.subscribed_services, '{}')) > 0
),

periods as (
    select customer_slug, billing_period_start from usage_periods
    union
    select customer_slug, billing_period_start from subscription_periods
)

select
    p.customer_slug,
    p.customer_slug || '/' || to_char(p.billing_period_start, 'YYYY-MM') as invoice_id,
    p.billing_period_start,
    (p.billing_period_start + interval '1 month')::date as billing_period_end,
    coalesce(cfg.display_name, p.customer_slug) as display_name,
    coalesce(cfg.tier, 'standard') as tier,
    to_jsonb(coalesce(cfg.subscribed_services, '{}'::text[])) as subscribed_services,
    coalesce(cfg.tax_rate_pct, 0) as tax_rate_pct,
    coalesce(cfg.currency, 'USD') as currency,
    coalesce(cfg.savings_share_pct, 0) as savings_share_pct,
    cfg.markup_plan,
    cfg.load_dts as settings_loaded_at,
    f.invoice_number,
    f.finalised_at
from periods as p
left join lateral (
    select s.display_name, s.tier, s.subscribed_services, s.tax_rate_pct, s.currency,
           s.savings_share_pct, s.markup_plan, s.load_dts
    from {{ ref('stg_sat_customer_config') }} as s
    join {{ ref('stg_hub_customer') }} as h on h.customer_hk = s.customer_hk
    where h.customer_slug = p.customer_slug
    order by
        s.load_dts < (p.billing_period_start + interval '1 month') desc,
        case when s.load_dts < (p.billing_period_start + interval '1 month') then s.load_dts end desc nulls last,
        s.load_dts
    limit 1
) as cfg on true
left join {{ ref('invoice_finalisations') }} as f
  on f.customer_slug = p.customer_slug
 and f.billing_period_start = p.billing_period_start
