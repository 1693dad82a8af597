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
    lead(load_dts) over (partition by admin_action_hk order by load_dts) as load_end_dts,
    lead(load_dts) over (partition by admin_action_hk order by load_dts) is null as is_current
from {{ source('raw_vault', 'sat_admin_action_details') }}
