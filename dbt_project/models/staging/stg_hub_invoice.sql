-- Staging view of raw_vault.hub_invoice: renamed business keys.
select
    invoice_hk,
    invoice_bk as invoice_id,
    load_dts,
    record_source,
    invoice_hk = decode(repeat('00', 32), 'hex') as is_ghost
from {{ source('raw_vault', 'hub_invoice') }}
