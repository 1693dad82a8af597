-- Staging view of raw_vault.hub_routing_rule: renamed business keys.
select
    routing_rule_hk,
    routing_rule_bk as routing_rule_id,
    load_dts,
    record_source,
    {{ is_ghost('routing_rule_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_routing_rule') }}
