-- Staging view of raw_vault.hub_provider: renamed business keys.
select
    provider_hk,
    provider_bk as provider,
    load_dts,
    record_source,
    {{ is_ghost('provider_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_provider') }}
