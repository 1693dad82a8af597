-- Staging view of raw_vault.lnk_provider_key_customer: renamed business keys.
select
    provider_key_customer_hk,
    provider_key_hk,
    customer_hk,
    provider_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_provider_key_customer') }}
