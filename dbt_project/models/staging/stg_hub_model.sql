-- Staging view of raw_vault.hub_model: renamed business keys.
select
    model_hk,
    provider_bk as provider,
    model_bk as model,
    load_dts,
    record_source,
    model_hk = decode(repeat('00', 32), 'hex') as is_ghost
from {{ source('raw_vault', 'hub_model') }}
