-- Staging view of raw_vault.hub_gateway_key: renamed business keys.
select
    gateway_key_hk,
    gateway_key_bk as gateway_key_id,
    load_dts,
    record_source,
    gateway_key_hk = decode(repeat('00', 32), 'hex') as is_ghost
from {{ source('raw_vault', 'hub_gateway_key') }}
