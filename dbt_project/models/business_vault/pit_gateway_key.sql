-- Point-in-time table for gateway keys: one row per version of sat_gateway_key_details with the interval
-- [effective_from, effective_to) it was in force (load_dts to the next version's load_dts), so
-- anything that happened at time t joins to the gateway key settings in force at t.
select
    s.gateway_key_hk,
    h.gateway_key_id,
    s.load_dts as sat_load_dts,
    s.load_dts as effective_from,
    coalesce(s.load_end_dts, 'infinity'::timestamptz) as effective_to,
    s.is_current
from {{ ref('stg_sat_gateway_key_details') }} as s
join {{ ref('stg_hub_gateway_key') }} as h on h.gateway_key_hk = s.gateway_key_hk
