-- Staging view of raw_vault.sat_api_request_tags: renamed business keys, virtual end-dating.
select
    api_request_hk,
    tag_key,
    load_dts,
    hash_diff,
    record_source,
    tag_value,
    {{ end_dating('api_request_hk, tag_key') }}
from {{ source('raw_vault', 'sat_api_request_tags') }}
