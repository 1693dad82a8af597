-- Staging view of raw_vault.hub_api_request: renamed business keys.
select
    api_request_hk,
    api_request_bk as request_id,
    load_dts,
    record_source,
    {{ is_ghost('api_request_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_api_request') }}
