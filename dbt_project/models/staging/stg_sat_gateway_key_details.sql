-- Staging view of raw_vault.sat_gateway_key_details: renamed business keys, virtual end-dating.
select
    gateway_key_hk,
    load_dts,
    hash_diff,
    record_source,
    changed_by,
    key_hash,
    key_prefix,
    label,
    status,
    expires_at,
    grace_until,
    budget_daily,
    budget_monthly,
    rate_limit_rpm,
    rate_limit_tpm,
    allowed_models,
    {{ end_dating('gateway_key_hk') }}
from {{ source('raw_vault', 'sat_gateway_key_details') }}
