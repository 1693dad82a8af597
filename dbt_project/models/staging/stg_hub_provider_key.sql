-- Staging view of raw_vault.hub_provider_key: renamed business keys.
select
    provider_key_hk,
    provider_key_bk as provider_key_id,
    load_dts,
    record_source,
    provider_key_hk = decode(repeat('00', 32), 'hex') as is_ghost
from {{ source('raw_vault', 'hub_provider_key') }}
