-- Point-in-time table for customers: one row per version of sat_customer_config with the interval
-- [effective_from, effective_to) it was in force (load_dts to the next version's load_dts), so
-- anything that happened at time t joins to the customer settings in force at t.
select
    s.customer_hk,
    h.customer_slug,
    s.load_dts as sat_load_dts,
    s.load_dts as effective_from,
    coalesce(s.load_end_dts, 'infinity'::timestamptz) as effective_to,
    s.is_current
from {{ ref('stg_sat_customer_config') }} as s
join {{ ref('stg_hub_customer') }} as h on h.customer_hk = s.customer_hk
