-- What each credit grant pays on each invoice (the credit lines): the customer's usage of the
-- month, as the invoice bills it (chargeback_weights: usage, cache and correction buckets by
-- provider, model, team, project, cost center and end user), allocated to its grants by
-- raw_vault.ov_allocate_credits (sql/017) — month by month, by priority then expiry, scope
-- respected, never more than the month's eligible usage nor the grant's remaining amount. The
-- gateway's prepaid wallet calls the same function (gateway/admin/credits.py), so the balance a
-- request is refused on and the invoice agree.
-- Cheap: only customers with a grant are read (chargeback_weights' customer/month index), and
-- grants are few; a finalised month reads only what its finalisation saw (cutoff).
with grants as (
    select
        c.customer_slug,
        h.grant_id,
        jsonb_build_object(
            'grant_id', h.grant_id,
            'amount', s.amount,
            'currency', s.currency,
            'priority', s.priority,
            'granted_at', s.granted_at,
            'effective_at', s.effective_at,
            'expires_at', s.expires_at,
            'voided_at', case when s.status = 'voided' then s.load_dts end,
            'scope_kind', s.scope_kind,
            'scope_key', s.scope_key,
            'scope_value', s.scope_value
        ) as spec
    from {{ ref('stg_sat_credit_grant_details') }} as s
    join {{ ref('stg_hub_credit_grant') }} as h on h.credit_grant_hk = s.credit_grant_hk
    join {{ ref('stg_lnk_credit_grant_customer') }} as l on l.credit_grant_hk = s.credit_grant_hk
    join {{ ref('stg_hub_customer') }} as c on c.customer_hk = l.customer_hk
    where s.is_current
),

customers as (
    select customer_slug, jsonb_agg(spec order by grant_id) as grants
    from grants
    group by customer_slug
),

usage as (
    select
        w.customer_slug,
        jsonb_agg(jsonb_build_object(
            'period', w.billing_period_start,
            'cutoff', p.finalised_at,
            'currency', p.currency,
            'provider', case when w.line_type = 'cache' then null else w.provider end,
            'model', case when w.line_type = 'cache' then null else w.model end,
            'team', w.team,
            'project', w.project,
            'cost_center', w.cost_center,
            'end_user', w.end_user_id,
            'amount', w.weight
        )) as usage
    from {{ ref('chargeback_weights') }} as w
    join customers as c on c.customer_slug = w.customer_slug
    join {{ ref('billing_periods') }} as p
      on p.customer_slug = w.customer_slug
     and p.billing_period_start = w.billing_period_start
    group by w.customer_slug
)

select
    c.customer_slug,
    a.grant_id,
    a.billing_period_start,
    a.amount::numeric(24,12) as amount
from customers as c
join usage as u on u.customer_slug = c.customer_slug
cross join lateral raw_vault.ov_allocate_credits(c.grants, u.usage) as a
