-- Staging view of raw_vault.hub_customer: renamed business keys.
select
    customer_hk,
    customer_bk as customer_slug,
    load_dts,
    record_source,
    {{ is_ghost('customer_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_customer') }}
