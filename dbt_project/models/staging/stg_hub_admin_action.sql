-- Staging view of raw_vault.hub_admin_action: renamed business keys.
select
    admin_action_hk,
    admin_action_bk as admin_action_id,
    load_dts,
    record_source,
    {{ is_ghost('admin_action_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_admin_action') }}
