-- Σ chargeback allocations = Σ charges: per invoice, the allocated billed_cost adds up to the
-- invoice subtotal (the sum of its rounded lines) to the cent, and no invoice is missing.
select i.invoice_id, i.subtotal, c.allocated
from {{ ref('invoices') }} as i
left join (
    select x_invoice_id as invoice_id, sum(billed_cost) as allocated
    from {{ ref('chargeback') }}
    group by 1
) as c using (invoice_id)
where c.allocated is distinct from i.subtotal
