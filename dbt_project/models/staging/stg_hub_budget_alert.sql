-- Staging view of raw_vault.hub_budget_alert: renamed business keys.
select
    budget_alert_hk,
    budget_alert_bk as budget_alert_id,
    load_dts,
    record_source,
    {{ is_ghost('budget_alert_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_budget_alert') }}
