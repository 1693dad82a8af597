-- Staging view of raw_vault.lnk_routing_rule_customer: renamed business keys.
select
    routing_rule_customer_hk,
    routing_rule_hk,
    customer_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_routing_rule_customer') }}
