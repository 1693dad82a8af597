-- Staging view of raw_vault.sat_provider_key_details: renamed business keys, virtual end-dating.
select
    provider_key_hk,
    load_dts,
    hash_diff,
    record_source,
    changed_by,
    label,
    api_style,
    base_url,
    kek_id,
    fingerprint,
    status,
    allowed_models,
    budget_daily,
    budget_monthly,
    last_validated_at,
    validation_status,
    {{ end_dating('provider_key_hk') }}
from {{ source('raw_vault', 'sat_provider_key_details') }}
