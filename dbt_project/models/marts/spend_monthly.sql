-- Spend per calendar month (UTC) at the same grain as spend_daily (rolled up from it).
{{ config(indexes=[{'columns': ['customer_slug', 'usage_month']}]) }}

select
    date_trunc('month', usage_date)::date as usage_month,
    customer_slug,
    gateway_key_id,
    end_user_id,
    team,
    project,
    cost_center,
    provider,
    model,
    sum(requests)::bigint as requests,
    sum(successful_requests)::bigint as successful_requests,
    sum(failed_requests)::bigint as failed_requests,
    sum(input_tokens)::bigint as input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(cached_input_tokens)::bigint as cached_input_tokens,
    sum(reasoning_tokens)::bigint as reasoning_tokens,
    sum(total_tokens)::bigint as total_tokens,
    sum(provider_cost)::numeric(24,12) as provider_cost,
    sum(markup)::numeric(24,12) as markup,
    sum(customer_cost)::numeric(24,12) as customer_cost,
    sum(baseline_cost)::numeric(24,12) as baseline_cost,
    sum(savings)::numeric(24,12) as savings
from {{ ref('spend_daily') }}
group by 1, 2, 3, 4, 5, 6, 7, 8, 9
