-- Staging view of raw_vault.lnk_api_request_context: renamed business keys.
select
    api_request_context_hk,
    api_request_hk,
    customer_hk,
    gateway_key_hk,
    provider_hk,
    model_hk,
    provider_key_hk,
    routing_rule_hk,
    end_user_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_api_request_context') }}
