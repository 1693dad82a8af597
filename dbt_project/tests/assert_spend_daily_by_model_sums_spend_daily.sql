-- spend_daily_by_model is spend_daily summed: every (day, customer, provider, model) has the
-- same requests and money in both (a day the rollup missed or double-counted fails here).
with fine as (
    select usage_date, customer_slug, provider, model,
           sum(requests) as requests, sum(customer_cost) as customer_cost, sum(provider_cost) as provider_cost
    from {{ ref('spend_daily') }}
    group by 1, 2, 3, 4
)

select coalesce(f.usage_date, r.usage_date) as usage_date, coalesce(f.customer_slug, r.customer_slug) as customer_slug,
       f.requests as fine_requests, r.requests as rollup_requests
from fine as f
full join {{ ref('spend_daily_by_model') }} as r
  on r.usage_date = f.usage_date and r.customer_slug = f.customer_slug
 and r.provider is not distinct from f.provider and r.model is not distinct from f.model
where f.requests is distinct from r.requests
   or f.customer_cost is distinct from r.customer_cost
   or f.provider_cost is distinct from r.provider_cost
