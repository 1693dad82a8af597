-- Staging view of raw_vault.hub_cost_event: renamed business keys.
select
    cost_event_hk,
    cost_event_bk as cost_event_id,
    load_dts,
    record_source,
    {{ is_ghost('cost_event_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_cost_event') }}
