-- Chargeback in FOCUS 1.2 columns (snake_case; the FOCUS name of each column is in the YAML),
-- checked with the FinOps Foundation's focus-validator (tests/dbt/test_focus_export.py):
-- every invoice line (before tax) allocated to buckets of team × project × cost center × end
-- user, each missing tag being 'unallocated'.
--
-- The allocation rule is the chargeback_allocation_rule docs block (models/docs/billing_rules.md):
-- direct rows per bucket of a line's own cost events, one rounding row per line, shared lines
-- split by usage share in units of 10^-12 by largest remainder; Σ chargeback = Σ subtotals to the
-- cent. Incremental (macros/chargeback_refresh.sql): direct rows are rewritten for the buckets
-- chargeback_weights rebuilt; rounding and shared rows for the touched invoices.
{{ config(
    materialized='incremental',
    unique_key='x_allocation_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="{{ chargeback_clear() }}",
    indexes=[
      {'columns': ['x_allocation_key'], 'unique': True},
      {'columns': ['customer_slug', 'billing_period_start']},
      {'columns': ['x_invoice_id', 'x_allocation_method', 'x_line_type']},
      {'columns': ['x_updated_at']},
    ],
) }}

{% set incremental = is_incremental() and not chargeback_rebuilds() %}
{% if incremental %}
{% set touched = chargeback_touched_invoices() %}
{% endif %}

with lines as (
    select
        i.*,
        p.invoice_id,
        p.billing_period_end,
        p.currency,
        p.display_name,
        round(i.amount_exact, 2) as amount,
        i.line_type in {{ shared_line_types() }} as is_shared
    from {{ ref('invoice_line_items') }} as i
    join {{ ref('billing_periods') }} as p
      on p.customer_slug = i.customer_slug
     and p.billing_period_start = i.billing_period_start
    {% if incremental %}
    where p.invoice_id in {{ sql_list(touched, 'text') }}
    {% endif %}
),

buckets as materialized (
    -- the buckets to allocate: those chargeback_weights rebuilt since this model last ran (by
    -- its built_at index), joined to their lines after
    select * from {{ ref('chargeback_weights') }} as w
    {% if incremental %}
    where {{ built_since_last_run(ref('chargeback_weights'), 'w.built_at', 'x_updated_at') }}
    {% endif %}
),

direct as (
    -- each bucket of a usage, cache or correction line: its own customer cost
    select
        l.*,
        w.bucket_key as allocation_key,
        w.team, w.project, w.cost_center, w.end_user_id,
        w.requests, w.tokens,
        case
            when w.team = 'unallocated' and w.project = 'unallocated'
             and w.cost_center = 'unallocated' and w.end_user_id = 'unallocated' then 'unallocated'
            else 'direct'
        end as allocation_method,
        w.weight as allocated_amount
    from buckets as w
    join lines as l
      on l.customer_slug = w.customer_slug
     and l.billing_period_start = w.billing_period_start
     and l.line_key = w.line_key
    where not l.is_shared
),

rounding as (
    -- the invoiced (cent-rounded) line minus its exact amount, the Σ of its buckets
    select
        l.*,
        md5(jsonb_build_array(l.invoice_id, l.line_key, 'rounding')::text)::uuid as allocation_key,
        'unallocated' as team, 'unallocated' as project, 'unallocated' as cost_center,
        'unallocated' as end_user_id,
        0::bigint as requests, null::bigint as tokens,
        'rounding' as allocation_method,
        l.amount - l.amount_exact as allocated_amount
    from lines as l
    where not l.is_shared and l.amount <> l.amount_exact
),

invoice_shares as (
    -- usage per team × project × cost center of each invoice that has a shared line
    select
        w.customer_slug, w.billing_period_start, w.team, w.project, w.cost_center,
        sum(w.weight) as weight
    from {{ ref('chargeback_weights') }} as w
    where (w.customer_slug, w.billing_period_start) in (
        select customer_slug, billing_period_start from lines where is_shared
    )
    group by 1, 2, 3, 4, 5
),

shared_buckets as (
    select
        l.invoice_id, l.line_key, l.amount, s.team, s.project, s.cost_center, s.weight,
        'proportional' as allocation_method
    from lines as l
    join invoice_shares as s
      on s.customer_slug = l.customer_slug
     and s.billing_period_start = l.billing_period_start
    where l.is_shared

    union all

    -- shared lines of an invoice without usage
    select
        l.invoice_id, l.line_key, l.amount, 'unallocated', 'unallocated', 'unallocated', 1,
        'unallocated'
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
    from shared_buckets as b
    window line_w as (partition by b.invoice_id, b.line_key)
),

floored as (
    select
        *,
        floor(raw_units) as base_units,
        line_units - sum(floor(raw_units)) over (partition by invoice_id, line_key) as leftover_units,
        row_number() over (
            partition by invoice_id, line_key
            order by raw_units - floor(raw_units) desc, team, project, cost_center
        ) as remainder_rank
    from shares
),

shared as (
    select
        l.*,
        md5(jsonb_build_array(f.invoice_id, f.line_key, f.team, f.project, f.cost_center)::text)::uuid as allocation_key,
        f.team, f.project, f.cost_center, 'unallocated' as end_user_id,
        0::bigint as requests, 0::bigint as tokens,
        f.allocation_method,
        f.line_sign * (f.base_units + case when f.remainder_rank <= f.leftover_units then 1 else 0 end)
            / 1000000000000 as allocated_amount
    from floored as f
    join lines as l on l.invoice_id = f.invoice_id and l.line_key = f.line_key
),

allocated as (
    select * from direct
    union all select * from rounding
    union all select * from shared
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
    a.allocated_amount::numeric(24,12) as billed_cost,
    -- FOCUS: a Purchase covers the period's eligible charges, so its EffectiveCost is 0
    -- (focus-validator rule EffectiveCost-C-005-C); BilledCost carries the fee.
    case
        when a.allocation_method <> 'rounding' and a.line_type in ('base_fee', 'subscription') then 0
        else a.allocated_amount
    end::numeric(24,12) as effective_cost,
    a.allocated_amount::numeric(24,12) as list_cost,
    a.allocated_amount::numeric(24,12) as contracted_cost,
    a.currency as billing_currency,
    a.billing_period_start::timestamptz as billing_period_start,
    a.billing_period_end::timestamptz as billing_period_end,
    coalesce(a.correction_of_period, a.billing_period_start)::timestamptz as charge_period_start,
    (coalesce(a.correction_of_period, a.billing_period_start) + interval '1 month')::timestamptz as charge_period_end,
    case
        when a.allocation_method = 'rounding' then 'Adjustment'
        when a.line_type = 'credit' then 'Credit'
        when a.line_type in ('base_fee', 'subscription') then 'Purchase'
        else 'Usage'
    end as charge_category,
    case when a.charge_class = 'correction' then 'Correction' end as charge_class,
    case
        when a.allocation_method = 'rounding' then 'Usage-Based'
        when a.line_type in ('base_fee', 'subscription') then 'Recurring'
        when a.line_type = 'credit' then 'One-Time'
        else 'Usage-Based'
    end as charge_frequency,
    a.description as charge_description,
    case when a.line_type in ('usage', 'correction') then a.tokens end::numeric as consumed_quantity,
    case when a.line_type in ('usage', 'correction') and a.tokens is not null then 'Tokens' end as consumed_unit,
    case
        when a.allocation_method = 'rounding' then null
        when a.line_type in ('usage', 'correction') then a.tokens
        when a.line_type = 'cache' then a.requests
        else 1
    end::numeric as pricing_quantity,
    case
        when a.allocation_method = 'rounding' then null
        when a.line_type in ('usage', 'correction') then 'Tokens'
        when a.line_type = 'cache' then 'Requests'
        else 'Months'
    end as pricing_unit,
    'AI and Machine Learning' as service_category,
    case
        when a.line_type in ('usage', 'correction', 'cache') then 'Generative AI'
        else 'Other (AI and Machine Learning)'
    end as service_subcategory,
    case
        when a.line_type in ('usage', 'correction', 'cache') then 'OneVault AI Gateway'
        else a.description
    end as service_name,
    -- FOCUS ProviderName is who sells the service (OneVault, which also issues the invoice: a
    -- different name would mark a marketplace charge, BilledCost 0); the model's maker is the
    -- publisher.
    'OneVault' as provider_name,
    coalesce(a.provider, 'OneVault') as publisher_name,
    'OneVault' as invoice_issuer_name,
    a.invoice_id as invoice_id,
    a.customer_slug as billing_account_id,
    coalesce(a.display_name, a.customer_slug) as billing_account_name,
    a.model as sku_id,
    case when a.provider is not null then a.provider || '/' || a.model else a.line_key end as sku_price_id,
    a.customer_slug as sub_account_id,
    a.display_name as sub_account_name,
    jsonb_strip_nulls(jsonb_build_object(
        'team', nullif(a.team, 'unallocated'),
        'project', nullif(a.project, 'unallocated'),
        'cost_center', nullif(a.cost_center, 'unallocated'),
        'end_user', nullif(a.end_user_id, 'unallocated')
    )) as tags,
    a.allocation_key as x_allocation_key,
    now() as x_updated_at
from allocated as a
