-- Staging view of raw_vault.sat_invoice_snapshot: renamed business keys, virtual end-dating.
select
    invoice_hk,
    load_dts,
    hash_diff,
    record_source,
    invoice_number,
    customer_bk as customer_slug,
    period_start,
    period_end,
    status,
    currency,
    subtotal,
    tax,
    total,
    lines,
    content_hash,
    issued_ts,
    issuer,
    {{ end_dating('invoice_hk') }}
from {{ source('raw_vault', 'sat_invoice_snapshot') }}
