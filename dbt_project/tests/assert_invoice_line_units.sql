-- Every invoice line says what its quantity counts: tokens, months, requests, or — on a markup
-- band or the savings share — money in the invoice's own currency (docs/billing/plans.md).
select l.invoice_id, l.line_no, l.line_type, l.unit
from {{ ref('invoice_lines') }} as l
where not (
    (l.line_type in ('markup', 'savings_share') and l.unit = l.currency)
    or (l.line_type = 'subscription' and l.unit in ('month', 'included'))
    or (l.line_type not in ('markup', 'savings_share', 'subscription') and l.unit in ('tokens', 'month', 'requests'))
)
