-- Every invoice line before rounding and numbering, in the contract's order: usage by provider
-- and model (group 1), the graduated markup of a customer on a markup plan (1.5, one line per
-- band its provider spend reaches), the tier's base fee (2, only when the tier has a fee),
-- subscribed services by service (3; one the tier includes is 0.00, unit 'included'), the
-- savings share (3.5, when the customer has one and the month saved money), cache (4), credits
-- (5, one per grant used, in the order applied), corrections (6, by month, time, event).
-- Fee, subscription and credit lines are one month of a fixed charge: no provider, model,
-- tokens or cost. Markup-band and savings-share lines carry their base (the band's provider
-- spend, the month's savings) as quantity, in the invoice currency. Pricing rules:
-- docs/billing/plans.md (seeds tiers.csv and markup_plans.csv).
{% set monthly_charge_columns -%}
        null::text as provider,
        null::text as model,
        1::numeric as quantity,
        'month' as unit,
        0::bigint as input_tokens,
        0::bigint as output_tokens,
        0::numeric as provider_cost,
        0::numeric as markup
{%- endset %}

with usage as (
    select
        i.customer_slug,
        i.billing_period_start,
        case i.line_type when 'usage' then 1 when 'cache' then 4 else 6 end as line_group,
        case i.line_type
            when 'correction' then to_char(i.correction_of_period, 'YYYY-MM') || '|'
                || to_char(i.last_loaded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '|' || i.cost_event_id
            else coalesce(i.provider, '') || '|' || coalesce(i.model, '')
        end as sort_key,
        i.line_type,
        i.line_key,
        i.charge_class,
        case i.line_type
            when 'usage' then 'Usage: ' || i.provider || ' / ' || i.model
            when 'cache' then 'Cached responses'
            else 'Late usage for ' || to_char(i.correction_of_period, 'YYYY-MM') || ': '
                 || coalesce(i.provider, '?') || ' / ' || coalesce(i.model, '?') || ' (' || i.cost_event_id || ')'
        end as description,
        i.provider,
        i.model,
        case when i.line_type = 'cache' then i.requests else i.input_tokens + i.output_tokens end::numeric as quantity,
        case when i.line_type = 'cache' then 'requests' else 'tokens' end as unit,
        i.input_tokens,
        i.output_tokens,
        i.provider_cost,
        i.markup,
        i.amount_exact,
        i.correction_of_period
    from {{ ref('invoice_usage_items') }} as i
),

base_fee as (
    select
        p.customer_slug,
        p.billing_period_start,
        2 as line_group,
        p.tier as sort_key,
        'base_fee' as line_type,
        'base_fee' as line_key,
        'regular' as charge_class,
        'Base fee: ' || p.tier || ' tier' as description,
        {{ monthly_charge_columns }},
        f.monthly_fee::numeric as amount_exact,
        null::date as correction_of_period
    from {{ ref('billing_periods') }} as p
    join {{ ref('tiers') }} as f on f.tier = p.tier
    where f.monthly_fee <> 0
),

subscriptions as (
    select
        p.customer_slug,
        p.billing_period_start,
        3 as line_group,
        svc.service as sort_key,
        'subscription' as line_type,
        'subscription|' || svc.service as line_key,
        'regular' as charge_class,
        case when t.included then svc.description || ' (included in the ' || p.tier || ' tier)'
             else svc.description end as description,
        null::text as provider,
        null::text as model,
        1::numeric as quantity,
        case when t.included then 'included' else 'month' end as unit,
        0::bigint as input_tokens,
        0::bigint as output_tokens,
        0::numeric as provider_cost,
        0::numeric as markup,
        case when t.included then 0 else svc.monthly_fee end::numeric as amount_exact,
        null::date as correction_of_period
    from {{ ref('billing_periods') }} as p
    cross join lateral jsonb_array_elements_text(p.subscribed_services) as s(service)
    join {{ ref('service_catalog') }} as svc on svc.service = s.service
    left join {{ ref('tiers') }} as tier on tier.tier = p.tier
    cross join lateral (
        select svc.service = any(string_to_array(coalesce(tier.included_services, ''), '|')) as included
    ) as t
),

month_usage as (
    -- what the pricing plans are computed on: the invoice's usage, cache and correction lines
    select
        customer_slug,
        billing_period_start,
        sum(savings) as savings,
        sum(unmarked_provider_cost) as unmarked_provider_cost
    from {{ ref('invoice_usage_items') }}
    group by customer_slug, billing_period_start
),

markup_bands as (
    -- A markup plan: each band's rate on the part of the month's provider spend (of events
    -- recorded without a flat markup) that falls in the band; one line per band reached.
    select
        p.customer_slug,
        p.billing_period_start,
        1.5 as line_group,
        to_char(b.band_from, 'FM0000000000000000.00') as sort_key,
        'markup' as line_type,
        'markup|' || b.plan || '|' || b.band_from::text as line_key,
        'regular' as charge_class,
        'Markup: '
            || case
                when b.band_from = 0 and b.band_to is null then 'all spend'
                when b.band_from = 0 then 'first ' || to_char(b.band_to, 'FM999,999,999,990.00') || ' ' || p.currency
                when b.band_to is null then 'over ' || to_char(b.band_from, 'FM999,999,999,990.00') || ' ' || p.currency
                else to_char(b.band_from, 'FM999,999,999,990.00') || '–'
                    || to_char(b.band_to, 'FM999,999,999,990.00') || ' ' || p.currency
            end
            || ' at ' || trim_scale(b.markup_pct)::text || ' %' as description,
        null::text as provider,
        null::text as model,
        band.spend as quantity,
        p.currency as unit,
        0::bigint as input_tokens,
        0::bigint as output_tokens,
        0::numeric as provider_cost,
        band.spend * b.markup_pct / 100 as markup,
        band.spend * b.markup_pct / 100 as amount_exact,
        null::date as correction_of_period
    from {{ ref('billing_periods') }} as p
    join month_usage as u
      on u.customer_slug = p.customer_slug and u.billing_period_start = p.billing_period_start
    join {{ ref('markup_plans') }} as b on b.plan = p.markup_plan
    cross join lateral (
        select least(u.unmarked_provider_cost, coalesce(b.band_to, u.unmarked_provider_cost)) - b.band_from as spend
    ) as band
    where band.spend > 0
),

savings_share as (
    -- seed 000's value-based pricing: a share of the month's attributed savings, never negative
    select
        p.customer_slug,
        p.billing_period_start,
        3.5 as line_group,
        'savings_share' as sort_key,
        'savings_share' as line_type,
        'savings_share' as line_key,
        'regular' as charge_class,
        'Savings share: ' || trim_scale(p.savings_share_pct)::text || ' % of savings '
            || to_char(u.savings, 'FM999,999,999,990.00') || ' ' || p.currency as description,
        null::text as provider,
        null::text as model,
        u.savings as quantity,
        p.currency as unit,
        0::bigint as input_tokens,
        0::bigint as output_tokens,
        0::numeric as provider_cost,
        0::numeric as markup,
        p.savings_share_pct * u.savings / 100 as amount_exact,
        null::date as correction_of_period
    from {{ ref('billing_periods') }} as p
    join month_usage as u
      on u.customer_slug = p.customer_slug and u.billing_period_start = p.billing_period_start
    where p.savings_share_pct > 0 and u.savings > 0
),

credits as (
    -- One credit line per grant used (business_vault.credit_grant_allocations, sql/017's
    -- allocation), ordered as applied: priority, then the earliest expiry, then grant order.
    select
        a.customer_slug,
        a.billing_period_start,
        5 as line_group,
        lpad(g.priority::text, 4, '0') || '|'
            || coalesce(to_char(g.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'), '9999') || '|'
            || to_char(g.granted_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '|' || a.grant_id as sort_key,
        'credit' as line_type,
        'credit|' || a.grant_id as line_key,
        'regular' as charge_class,
        coalesce(g.description, 'Credit') || ' (' || a.grant_id || ')' as description,
        {{ monthly_charge_columns }},
        -a.amount as amount_exact,
        null::date as correction_of_period
    from {{ ref('credit_grant_allocations') }} as a
    join {{ ref('stg_hub_credit_grant') }} as h on h.grant_id = a.grant_id
    join {{ ref('stg_sat_credit_grant_details') }} as g
      on g.credit_grant_hk = h.credit_grant_hk and g.is_current
)

select * from usage
union all select * from base_fee
union all select * from subscriptions
union all select * from credits
union all select * from markup_bands
union all select * from savings_share
