-- Staging view of raw_vault.hub_gateway_key: renamed business keys.
select
    gateway_key_hk,
    gateway_key_bk as gateway_key_id,
    load_dts,
    record_source,
    {{ is_ghost('gateway_key_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_gateway_key') }}
