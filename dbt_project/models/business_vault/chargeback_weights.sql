-- Billing facts per invoice line and tag bucket: each usage, cache and correction line split by
-- the tags of the cost events on it (team, project, cost_center, end user; a missing one is
-- 'unallocated'). chargeback allocates by `weight` (Σ customer_cost); invoice_usage_items sums
-- the buckets back into lines — one pass over the cost events serves both.
select
    customer_slug,
    billing_period_start,
    line_key,
    line_type,
    coalesce(team, 'unallocated') as team,
    coalesce(project, 'unallocated') as project,
    coalesce(cost_center, 'unallocated') as cost_center,
    coalesce(end_user_id, 'unallocated') as end_user_id,
    min(charge_class) as charge_class,
    min(provider) as provider,
    min(model) as model,
    min(correction_of_period) as correction_of_period,
    min(cost_event_id) as first_cost_event_id,
    count(*) as requests,
    sum(input_tokens)::bigint as input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(input_tokens + output_tokens)::bigint as tokens,
    sum(provider_cost) as provider_cost,
    sum(markup_amount) as markup,
    sum(customer_cost) as weight,
    max(loaded_at) as last_loaded_at
from {{ ref('cost_event_billing') }}
group by customer_slug, billing_period_start, line_key, line_type, 5, 6, 7, 8
