-- Staging view of raw_vault.hub_invoice: renamed business keys.
select
    invoice_hk,
    invoice_bk as invoice_id,
    load_dts,
    record_source,
    {{ is_ghost('invoice_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_invoice') }}
