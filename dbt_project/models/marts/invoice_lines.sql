-- Invoice lines (contract: ARCHITECTURE + cross-team contract): numbered in a stable order,
-- each amount rounded to cents half-up (PostgreSQL's numeric round() rounds halves away from
-- zero, which is half-up for charges and symmetric for credits). A finalised month is built
-- only from what was loaded by its finalised_at, so it reproduces the billing run's snapshot.
{{ config(indexes=[{'columns': ['invoice_id', 'line_no'], 'unique': True}, {'columns': ['customer_slug']}]) }}

with items as (
    select
        i.*,
        p.invoice_id,
        p.billing_period_end,
        p.currency
    from {{ ref('invoice_line_items') }} as i
    join {{ ref('billing_periods') }} as p
      on p.customer_slug = i.customer_slug
     and p.billing_period_start = i.billing_period_start
)

select
    invoice_id,
    customer_slug,
    billing_period_start,
    billing_period_end,
    (row_number() over (
        partition by invoice_id order by line_group, sort_key
    ))::int as line_no,
    line_type,
    charge_class,
    description,
    provider,
    model,
    quantity,
    unit,
    input_tokens::bigint as input_tokens,
    output_tokens::bigint as output_tokens,
    provider_cost::numeric(24,12) as provider_cost,
    markup::numeric(24,12) as markup,
    amount_exact::numeric(24,12) as amount_exact,
    round(amount_exact, 2)::numeric(18,2) as amount,
    currency,
    correction_of_period
from items
