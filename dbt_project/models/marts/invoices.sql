-- Invoice headers: one per customer per month with any line. Subtotal is the sum of the rounded
-- line amounts; tax is subtotal x the customer's rate, rounded half-up to cents; total is
-- subtotal + tax. 'finalised' once the billing run wrote a finalised snapshot for the month.
{{ config(indexes=[{'columns': ['invoice_id'], 'unique': True}, {'columns': ['customer_slug', 'billing_period_start']}]) }}

with lines as (
    select
        invoice_id,
        count(*) as line_count,
        sum(amount) filter (where line_type in ('usage', 'cache')) as usage_amount,
        sum(amount_exact) filter (where line_type in ('usage', 'cache')) as usage_customer_cost_exact,
        sum(amount) as subtotal
    from {{ ref('invoice_lines') }}
    group by invoice_id
),

headers as (
    select
        p.invoice_id,
        p.customer_slug,
        p.billing_period_start,
        p.billing_period_end,
        p.currency,
        case when p.finalised_at is not null then 'finalised' else 'draft' end as status,
        l.line_count::int as line_count,
        coalesce(l.usage_amount, 0)::numeric(18,2) as usage_amount,
        l.subtotal::numeric(18,2) as subtotal,
        p.tax_rate_pct::numeric as tax_rate_pct,
        round(l.subtotal * p.tax_rate_pct / 100, 2)::numeric(18,2) as tax,
        coalesce(l.usage_customer_cost_exact, 0)::numeric(24,12) as usage_customer_cost_exact,
        p.invoice_number,
        p.finalised_at
    from {{ ref('billing_periods') }} as p
    join lines as l on l.invoice_id = p.invoice_id
)

select
    invoice_id,
    customer_slug,
    billing_period_start,
    billing_period_end,
    currency,
    status,
    line_count,
    usage_amount,
    subtotal,
    tax_rate_pct,
    tax,
    (subtotal + tax)::numeric(18,2) as total,
    usage_customer_cost_exact,
    invoice_number,
    finalised_at
from headers
