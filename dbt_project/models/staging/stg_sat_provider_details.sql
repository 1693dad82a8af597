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
    lead(load_dts) over (partition by provider_hk order by load_dts) as load_end_dts,
    lead(load_dts) over (partition by provider_hk order by load_dts) is null as is_current
from {{ source('raw_vault', 'sat_provider_details') }}
