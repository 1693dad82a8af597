-- Point-in-time table for routing rules: one row per version of sat_routing_rule_definition with the interval
-- [effective_from, effective_to) it was in force (load_dts to the next version's load_dts), so
-- anything that happened at time t joins to the routing rule settings in force at t.
select
    s.routing_rule_hk,
    h.routing_rule_id,
    s.load_dts as sat_load_dts,
    s.load_dts as effective_from,
    coalesce(s.load_end_dts, 'infinity'::timestamptz) as effective_to,
    s.is_current
from {{ ref('stg_sat_routing_rule_definition') }} as s
join {{ ref('stg_hub_routing_rule') }} as h on h.routing_rule_hk = s.routing_rule_hk
