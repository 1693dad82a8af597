-- Staging view of raw_vault.sat_api_request_tags: renamed business keys, virtual end-dating.
select
    api_request_hk,
    tag_key,
    load_dts,
    hash_diff,
    record_source,
    tag_value,
    lead(load_dts) over (partition by api_request_hk, tag_key order by load_dts) as load_end_dts,
    lead(load_dts) over (partition by api_request_hk, tag_key order by load_dts) is null as is_current
from {{ source('raw_vault', 'sat_api_request_tags') }}
