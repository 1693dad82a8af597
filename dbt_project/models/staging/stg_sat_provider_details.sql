-- Staging view of raw_vault.sat_provider_details: renamed business keys, virtual end-dating.
select
    provider_hk,
    load_dts,
    hash_diff,
    record_source,
    changed_by,
    display_name,
    api_style,
    default_base_url,
    hipaa_eligible,
    is_active,
    {{ end_dating('provider_hk') }}
from {{ source('raw_vault', 'sat_provider_details') }}
