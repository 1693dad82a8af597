-- Staging view of raw_vault.sat_admin_action_details: renamed business keys, virtual end-dating.
select
    admin_action_hk,
    load_dts,
    hash_diff,
    record_source,
    action_ts,
    actor,
    action,
    target,
    outcome,
    status_code,
    detail,
    source_ip,
    user_agent,
    {{ end_dating('admin_action_hk') }}
from {{ source('raw_vault', 'sat_admin_action_details') }}
