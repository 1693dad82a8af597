-- Staging view of raw_vault.hub_provider: renamed business keys.
select
    provider_hk,
    provider_bk as provider,
    load_dts,
    record_source,
    provider_hk = decode(repeat('00', 32), 'hex') as is_ghost
from {{ source('raw_vault', 'hub_provider') }}
