-- Staging view of raw_vault.hub_model: renamed business keys.
select
    model_hk,
    provider_bk as provider,
    model_bk as model,
    load_dts,
    record_source,
    {{ is_ghost('model_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_model') }}
