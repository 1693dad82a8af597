-- Staging view of raw_vault.lnk_model_provider: renamed business keys.
select
    model_provider_hk,
    model_hk,
    provider_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_model_provider') }}
