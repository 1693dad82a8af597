-- Staging view of raw_vault.sat_api_request_attempt: renamed business keys, virtual end-dating.
select
    api_request_hk,
    attempt_no,
    load_dts,
    hash_diff,
    record_source,
    provider_hk,
    model_hk,
    provider_key_hk,
    provider_bk as provider,
    model_bk as model,
    started_ts,
    latency_ms,
    outcome,
    http_status,
    error_class,
    error_message,
    input_tokens,
    output_tokens,
    {{ end_dating('api_request_hk, attempt_no') }}
from {{ source('raw_vault', 'sat_api_request_attempt') }}
