-- Usage on invoices before rounding: the billing facts summed per invoice line — usage per
-- provider and model, the month's cache line, and one correction line per late event
-- (placement rule in cost_event_billing; buckets in chargeback_weights).
select
    customer_slug,
    billing_period_start,
    line_type,
    line_key,
    min(charge_class) as charge_class,
    case when line_type = 'cache' then null else min(provider) end as provider,
    case when line_type = 'cache' then null else min(model) end as model,
    min(correction_of_period) as correction_of_period,
    case when line_type = 'correction' then min(first_cost_event_id) end as cost_event_id,
    sum(requests)::bigint as requests,
    sum(input_tokens)::bigint as input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(provider_cost) as provider_cost,
    sum(markup) as markup,
    sum(weight) as amount_exact,
    sum(savings) as savings,
    sum(unmarked_provider_cost) as unmarked_provider_cost,
    max(last_loaded_at) as last_loaded_at
from {{ ref('chargeback_weights') }}
group by customer_slug, billing_period_start, line_type, line_key
