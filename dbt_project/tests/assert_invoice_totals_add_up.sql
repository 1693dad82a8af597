-- Invoice headers agree with their lines: subtotal = Σ rounded line amounts, line_count = lines,
-- total = subtotal + tax, tax = subtotal × rate rounded half-up.
select i.invoice_id
from {{ ref('invoices') }} as i
join (
    select invoice_id, sum(amount) as subtotal, count(*) as line_count
    from {{ ref('invoice_lines') }}
    group by invoice_id
) as l using (invoice_id)
where i.subtotal <> l.subtotal
   or i.line_count <> l.line_count
   or i.total <> i.subtotal + i.tax
   or i.tax <> round(i.subtotal * i.tax_rate_pct / 100, 2)
