-- Direct attribution for chargeback: each usage, cache and correction line of an invoice split
-- into buckets by the tags of the cost events on it (team, project, cost_center, end user), the
-- weight of a bucket being its Σ customer_cost. A missing tag is 'unallocated'.
select
    customer_slug,
    billing_period_start,
    line_key,
    coalesce(team, 'unallocated') as team,
    coalesce(project, 'unallocated') as project,
    coalesce(cost_center, 'unallocated') as cost_center,
    coalesce(end_user_id, 'unallocated') as end_user_id,
    count(*) as requests,
    sum(input_tokens + output_tokens)::bigint as tokens,
    sum(provider_cost) as provider_cost,
    sum(customer_cost) as weight
from {{ ref('cost_event_billing') }}
group by 1, 2, 3, 4, 5, 6, 7
