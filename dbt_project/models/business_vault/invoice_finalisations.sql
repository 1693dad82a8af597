-- Months finalised by the billing run: a customer's month is finalised once the raw vault holds
-- a 'finalised' invoice snapshot for it; finalised_at is the first such snapshot's load_dts.
-- Everything the invoice marts say about a finalised month is cut at finalised_at.
select
    s.customer_slug,
    s.period_start as billing_period_start,
    h.invoice_id,
    (array_agg(s.invoice_number order by s.load_dts))[1] as invoice_number,
    min(s.load_dts) as finalised_at
from {{ ref('stg_sat_invoice_snapshot') }} as s
join {{ ref('stg_hub_invoice') }} as h on h.invoice_hk = s.invoice_hk
where s.status = 'finalised'
group by s.customer_slug, s.period_start, h.invoice_id
