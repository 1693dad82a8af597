-- Staging view of raw_vault.hub_cost_event: renamed business keys.
select
    cost_event_hk,
    cost_event_bk as cost_event_id,
    load_dts,
    record_source,
    cost_event_hk = decode(repeat('00', 32), 'hex') as is_ghost
from {{ source('raw_vault', 'hub_cost_event') }}
