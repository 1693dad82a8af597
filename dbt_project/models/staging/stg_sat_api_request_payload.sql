-- Staging view of raw_vault.sat_api_request_payload: renamed business keys, virtual end-dating.
select
    api_request_hk,
    load_dts,
    hash_diff,
    record_source,
    retention_mode,
    prompt_sha256,
    completion_sha256,
    data_key_id,
    seal_error,
    {{ end_dating('api_request_hk') }}
from {{ source('raw_vault', 'sat_api_request_payload') }}
