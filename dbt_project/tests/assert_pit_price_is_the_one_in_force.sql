-- The PIT join gives each cost event the price in force at its event_ts: the matched version's
-- interval contains event_ts, no other version's interval does, and when a model has any price
-- an event at or after its first price's start is never left without one.
with matches as (
    select e.cost_event_hk, count(p.model_hk) as versions_in_force, max(p.sat_load_dts) as matched
    from {{ ref('sat_cost_event_computed') }} as e
    left join {{ ref('pit_model_price') }} as p
      on p.model_hk = e.model_hk and e.event_ts >= p.effective_from and e.event_ts < p.effective_to
    group by e.cost_event_hk
)

select e.cost_event_id, m.versions_in_force
from {{ ref('sat_cost_event_computed') }} as e
join matches as m using (cost_event_hk)
where m.versions_in_force > 1
   or m.matched is distinct from e.pit_price_load_dts
