-- Staging view of raw_vault.sat_routing_rule_definition: renamed business keys, virtual end-dating.
select
    routing_rule_hk,
    load_dts,
    hash_diff,
    record_source,
    changed_by,
    name,
    priority,
    conditions,
    strategy,
    target_provider,
    target_model,
    fallback_chain,
    retry_policy,
    is_active,
    options,
    {{ end_dating('routing_rule_hk') }}
from {{ source('raw_vault', 'sat_routing_rule_definition') }}
