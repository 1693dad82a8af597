-- Staging view of raw_vault.lnk_gateway_key_customer: renamed business keys.
select
    gateway_key_customer_hk,
    gateway_key_hk,
    customer_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_gateway_key_customer') }}
