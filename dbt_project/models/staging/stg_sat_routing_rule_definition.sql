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
    lead(load_dts) over (partition by routing_rule_hk order by load_dts) as load_end_dts,
    lead(load_dts) over (partition by routing_rule_hk order by load_dts) is null as is_current
from {{ source('raw_vault', 'sat_routing_rule_definition') }}
