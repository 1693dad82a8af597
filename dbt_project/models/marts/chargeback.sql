-- Chargeback in FOCUS 1.2 columns (snake_case; the FOCUS name of each column is in the YAML):
-- every invoice line (before tax) allocated to buckets of team × project × cost center × end
-- user, each missing tag being 'unallocated'.
--
-- Allocation rule:
--   * usage, cache and correction lines go to the buckets of the cost events on them, in
--     proportion to each bucket's customer cost (x_allocation_method 'direct', or 'unallocated'
--     when the events carried no tag and no end user);
--   * shared lines — the tier's base fee, subscriptions, credits — go to every bucket in
--     proportion to its share of the invoice's usage (all usage, cache and correction lines)
--     ('proportional'); an invoice without usage puts them in one all-'unallocated' bucket.
-- Rounding: a line's invoiced (cent-rounded) amount is split into units of 10^-12 (the vault's
-- money precision) by the largest-remainder method (floor every share, hand the units left
-- over to the largest fractions, ties by bucket), so each line's allocations add up to the line
-- exactly, Σ chargeback = Σ invoice subtotals to the cent, and roll-ups by team, project, cost
-- centre or user carry no rounding error of their own (cent-rounded fine buckets would).
{{ config(indexes=[{'columns': ['customer_slug', 'billing_period_start']}]) }}

with lines as (
    select
        i.*,
        p.invoice_id,
        p.billing_period_end,
        p.currency,
        p.display_name,
        round(i.amount_exact, 2) as amount,
        i.line_type in ('base_fee', 'subscription', 'credit') as is_shared
    from {{ ref('invoice_line_items') }} as i
    join {{ ref('billing_periods') }} as p
      on p.customer_slug = i.customer_slug
     and p.billing_period_start = i.billing_period_start
),

weights as (
    select * from {{ ref('chargeback_weights') }}
),

invoice_shares as (
    select
        customer_slug, billing_period_start, team, project, cost_center, end_user_id,
        sum(weight) as weight
    from weights
    group by 1, 2, 3, 4, 5, 6
),

buckets as (
    -- direct lines: their own events' buckets
    select
        l.*, w.team, w.project, w.cost_center, w.end_user_id,
        w.weight, w.requests, w.tokens,
        case
            when w.team = 'unallocated' and w.project = 'unallocated'
             and w.cost_center = 'unallocated' and w.end_user_id = 'unallocated' then 'unallocated'
            else 'direct'
        end as allocation_method
    from lines as l
    join weights as w
      on w.customer_slug = l.customer_slug
     and w.billing_period_start = l.billing_period_start
     and w.line_key = l.line_key
    where not l.is_shared

    union all

    -- shared lines: every bucket of the invoice, by its share of usage
    select
        l.*, s.team, s.project, s.cost_center, s.end_user_id,
        s.weight, 0, 0, 'proportional'
    from lines as l
    join invoice_shares as s
      on s.customer_slug = l.customer_slug
     and s.billing_period_start = l.billing_period_start
    where l.is_shared

    union all

    -- shared lines of an invoice without usage
    select
        l.*, 'unallocated', 'unallocated', 'unallocated', 'unallocated',
        1, 0, 0, 'unallocated'
    from lines as l
    where l.is_shared
      and not exists (
        select 1 from invoice_shares as s
        where s.customer_slug = l.customer_slug and s.billing_period_start = l.billing_period_start
    )
),

shares as (
    select
        b.*,
        abs(b.amount) * 1000000000000 as line_units,
        sign(b.amount) as line_sign,
        case
            when sum(b.weight) over line_w = 0 then 0
            else abs(b.amount) * 1000000000000 * b.weight / sum(b.weight) over line_w
        end as raw_units
    from buckets as b
    window line_w as (partition by b.invoice_id, b.line_key)
),

floored as (
    select
        *,
        floor(raw_units) as base_units,
        line_units - sum(floor(raw_units)) over (partition by invoice_id, line_key) as leftover_units,
        row_number() over (
            partition by invoice_id, line_key
            order by raw_units - floor(raw_units) desc, team, project, cost_center, end_user_id
        ) as remainder_rank
    from shares
),

allocated as (
    select
        f.*,
        (f.line_sign * (f.base_units + case when f.remainder_rank <= f.leftover_units then 1 else 0 end)
            / 1000000000000)::numeric(24,12) as allocated_amount
    from floored as f
)

select
    a.customer_slug,
    a.invoice_id as x_invoice_id,
    a.line_key as x_line_key,
    a.line_type as x_line_type,
    a.team as x_team,
    a.project as x_project,
    a.cost_center as x_cost_center,
    a.end_user_id as x_end_user,
    a.allocation_method as x_allocation_method,
    a.requests::bigint as x_requests,
    a.allocated_amount as billed_cost,
    a.allocated_amount as effective_cost,
    a.allocated_amount as list_cost,
    a.allocated_amount as contracted_cost,
    a.currency as billing_currency,
    a.billing_period_start::timestamptz as billing_period_start,
    a.billing_period_end::timestamptz as billing_period_end,
    coalesce(a.correction_of_period, a.billing_period_start)::timestamptz as charge_period_start,
    (coalesce(a.correction_of_period, a.billing_period_start) + interval '1 month')::timestamptz as charge_period_end,
    case a.line_type
        when 'credit' then 'Credit'
        when 'base_fee' then 'Purchase'
        when 'subscription' then 'Purchase'
        else 'Usage'
    end as charge_category,
    case when a.charge_class = 'correction' then 'Correction' end as charge_class,
    a.description as charge_description,
    case when a.line_type in ('usage', 'correction') then a.tokens end::numeric as consumed_quantity,
    case when a.line_type in ('usage', 'correction') then 'Tokens' end as consumed_unit,
    case
        when a.line_type in ('usage', 'correction') then a.tokens
        when a.line_type = 'cache' then a.requests
        else 1
    end::numeric as pricing_quantity,
    case
        when a.line_type in ('usage', 'correction') then 'Tokens'
        when a.line_type = 'cache' then 'Requests'
        else 'Months'
    end as pricing_unit,
    'AI and Machine Learning' as service_category,
    case
        when a.line_type in ('usage', 'correction', 'cache') then 'OneVault AI Gateway'
        else a.description
    end as service_name,
    coalesce(a.provider, 'OneVault') as provider_name,
    coalesce(a.provider, 'OneVault') as publisher_name,
    'OneVault' as invoice_issuer_name,
    a.model as sku_id,
    case when a.provider is not null then a.provider || '/' || a.model else a.line_key end as sku_price_id,
    a.customer_slug as sub_account_id,
    a.display_name as sub_account_name,
    jsonb_strip_nulls(jsonb_build_object(
        'team', nullif(a.team, 'unallocated'),
        'project', nullif(a.project, 'unallocated'),
        'cost_center', nullif(a.cost_center, 'unallocated'),
        'end_user', nullif(a.end_user_id, 'unallocated')
    )) as tags
from allocated as a
