-- Every invoice line before rounding and numbering, in the contract's order: usage by provider
-- and model (group 1), the tier's base fee (2, only when the tier has a fee), subscribed
-- services by service (3), cache (4), credits (5, one per grant used, in the order applied),
-- corrections (6, by month, time, event).
-- Fee, subscription and credit lines are one month of a fixed charge: no provider, model,
-- tokens or cost.
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
    join {{ ref('tier_fees') }} as f on f.tier = p.tier
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
        svc.description,
        {{ monthly_charge_columns }},
        svc.monthly_fee::numeric as amount_exact,
        null::date as correction_of_period
    from {{ ref('billing_periods') }} as p
    cross join lateral jsonb_array_elements_text(p.subscribed_services) as s(service)
    join {{ ref('service_catalog') }} as svc on svc.service = s.service
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
