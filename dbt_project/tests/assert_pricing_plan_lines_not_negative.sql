-- A markup band or a savings share never credits the customer: a month whose savings are
-- negative (routing cost more than the baseline) has no savings-share line at all.
select invoice_id, line_no, line_type, quantity, amount_exact
from {{ ref('invoice_lines') }}
where line_type in ('markup', 'savings_share') and (amount_exact <= 0 or quantity <= 0)
