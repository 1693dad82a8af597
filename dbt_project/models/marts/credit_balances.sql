-- Balance and consumption per credit grant: what each grant was granted, has paid on invoices
-- (business_vault.credit_grant_allocations: the credit lines, this month's draft included) and
-- has left. `remaining` is what it can still pay — 0 once voided, expired or used up. The same
-- figures, live, are `onevault credits show` and the prepaid wallet's balance
-- (gateway/admin/credits.py: the same allocation function). Cheap: one row per grant.
with used as (
    select
        grant_id,
        sum(amount) as used,
        count(*)::int as invoices_used_on,
        min(billing_period_start) as first_used_period,
        max(billing_period_start) as last_used_period,
        jsonb_object_agg(to_char(billing_period_start, 'YYYY-MM'), amount::text order by billing_period_start)
            as used_by_month
    from {{ ref('credit_grant_allocations') }}
    group by grant_id
),

grants as (
    select
        c.customer_slug,
        h.grant_id,
        s.status as recorded_status,
        s.amount,
        s.currency,
        s.priority,
        s.effective_at,
        s.expires_at,
        case s.scope_kind
            when 'tag' then 'tag:' || s.scope_key || '=' || s.scope_value
            when 'provider' then 'provider:' || s.scope_value
            when 'model' then 'model:' || s.scope_value
            else 'all usage'
        end as scope,
        s.description,
        s.granted_at,
        case when s.status = 'voided' then s.load_dts end as voided_at,
        s.void_reason,
        s.changed_by,
        coalesce(u.used, 0)::numeric(24,12) as used,
        coalesce(u.invoices_used_on, 0) as invoices_used_on,
        u.first_used_period,
        u.last_used_period,
        coalesce(u.used_by_month, '{}'::jsonb) as used_by_month
    from {{ ref('stg_sat_credit_grant_details') }} as s
    join {{ ref('stg_hub_credit_grant') }} as h on h.credit_grant_hk = s.credit_grant_hk
    join {{ ref('stg_lnk_credit_grant_customer') }} as l on l.credit_grant_hk = s.credit_grant_hk
    join {{ ref('stg_hub_customer') }} as c on c.customer_hk = l.customer_hk
    left join used as u on u.grant_id = h.grant_id
    where s.is_current
),

stated as (
    select
        *,
        case
            when recorded_status = 'voided' then 'voided'
            when expires_at is not null and expires_at <= now() then 'expired'
            when effective_at is not null and effective_at > now() then 'scheduled'
            when used >= amount then 'exhausted'
            else 'active'
        end as status
    from grants
)

select
    customer_slug,
    grant_id,
    status,
    currency,
    amount::numeric(18,2) as amount,
    used,
    (case when status in ('active', 'scheduled') then amount - used else 0 end)::numeric(24,12) as remaining,
    priority,
    scope,
    effective_at,
    expires_at,
    description,
    granted_at,
    voided_at,
    void_reason,
    changed_by,
    invoices_used_on,
    first_used_period,
    last_used_period,
    used_by_month,
    now() as built_at
from stated
