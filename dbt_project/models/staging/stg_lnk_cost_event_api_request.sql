-- Staging view of raw_vault.lnk_cost_event_api_request: renamed business keys.
select
    cost_event_api_request_hk,
    cost_event_hk,
    api_request_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_cost_event_api_request') }}
