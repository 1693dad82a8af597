-- Staging view of raw_vault.lnk_invoice_customer: renamed business keys.
select
    invoice_customer_hk,
    invoice_hk,
    customer_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_invoice_customer') }}
