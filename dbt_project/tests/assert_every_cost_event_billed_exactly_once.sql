-- Nothing lost, nothing billed twice: Σ usage, cache and correction lines = Σ customer_cost of
-- every cost event in the vault, and there is one correction line per late event.
with vault as (
    select coalesce(sum(customer_cost), 0) as customer_cost
    from {{ ref('stg_sat_cost_event_details') }}
    where is_current and cost_event_hk <> decode(repeat('00', 32), 'hex')
),

billed as (
    select coalesce(sum(amount_exact), 0) as amount_exact
    from {{ ref('invoice_lines') }}
    where line_type in ('usage', 'cache', 'correction')
)

select vault.customer_cost, billed.amount_exact
from vault cross join billed
where vault.customer_cost <> billed.amount_exact
