-- Staging view of raw_vault.hub_provider_key: renamed business keys.
select
    provider_key_hk,
    provider_key_bk as provider_key_id,
    load_dts,
    record_source,
    {{ is_ghost('provider_key_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_provider_key') }}
