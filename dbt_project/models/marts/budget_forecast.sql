-- Every budget in force (sql/018, docs/billing/budgets.md) × each of its periods that has spend,
-- plus the period running as of today: what its scope spent so far, the daily burn rate, the
-- projected period-end spend, the date the money runs out (null: not within the period), and
-- whether the projection crosses the limit. Read from spend_daily (the scope's days, by the
-- customer_slug/usage_date index) and the budget definitions, so a rebuild costs a few index
-- scans per budget, not a pass over the requests: a table, rebuilt whole each run (budgets are
-- few), which keeps the incremental run as fast as it was.
-- As of: the var budget_forecast_as_of (a date; default today, UTC): a period that ended before
-- it is complete (projection = spend); the one it falls in has elapsed through that day.
{% set as_of_var = var('budget_forecast_as_of', none) %}
{% set as_of = "date '" ~ as_of_var ~ "'" if as_of_var else "(now() at time zone 'utc')::date" %}

with budgets as (
    select
        b.budget_id,
        c.customer_slug,
        d.scope_type,
        d.scope_value,
        d.period,
        d.limit_usd,
        d.is_soft,
        d.changed_by,
        d.load_dts as defined_at,
        split_part(d.scope_value, '=', 1) as tag_key,
        substr(d.scope_value, strpos(d.scope_value, '=') + 1) as tag_value
    from {{ ref('stg_sat_budget_definition') }} as d
    join {{ ref('stg_hub_budget') }} as b using (budget_hk)
    join {{ ref('stg_lnk_budget_customer') }} as l using (budget_hk)
    join {{ ref('stg_hub_customer') }} as c on c.customer_hk = l.customer_hk
    where d.is_current and d.is_active
),

days as (
    -- The scope's spend per day up to the as-of date.
    select
        b.budget_id,
        s.usage_date,
        date_trunc(b.period, s.usage_date)::date as period_start,
        sum(s.customer_cost) as customer_cost
    from budgets as b
    join {{ ref('spend_daily') }} as s
        on s.customer_slug = b.customer_slug
        and s.usage_date <= {{ as_of }}
        and case b.scope_type
            when 'customer' then true
            when 'key' then s.gateway_key_id = b.scope_value
            when 'end_user' then s.end_user_id = b.scope_value
            when 'tag' then case b.tag_key
                when 'team' then s.team = b.tag_value
                when 'project' then s.project = b.tag_value
                when 'cost_center' then s.cost_center = b.tag_value
                else false
            end
            else false
        end
    group by 1, 2, 3
),

running as (
    select
        d.*,
        sum(d.customer_cost) over (
            partition by d.budget_id, d.period_start order by d.usage_date
        ) as cumulative_cost
    from days as d
),

periods as (
    select budget_id, period_start from days
    union
    select budget_id, date_trunc(period, {{ as_of }})::date from budgets
),

spent as (
    select
        b.*,
        p.period_start,
        (p.period_start + ('1 ' || b.period)::interval)::date as period_end,
        coalesce(sum(r.customer_cost), 0) as spent,
        min(r.usage_date) filter (where r.cumulative_cost >= b.limit_usd) as exhausted_on
    from budgets as b
    join periods as p using (budget_id)
    left join running as r on r.budget_id = b.budget_id and r.period_start = p.period_start
    group by
        b.budget_id, b.customer_slug, b.scope_type, b.scope_value, b.period, b.limit_usd, b.is_soft,
        b.changed_by, b.defined_at, b.tag_key, b.tag_value, p.period_start
),

measured as (
    select
        s.*,
        least({{ as_of }}, s.period_end - 1) - s.period_start + 1 as days_elapsed,
        s.period_end - s.period_start as days_in_period
    from spent as s
),

projected as (
    select
        m.*,
        (m.spent / m.days_elapsed)::numeric(24,12) as daily_burn,
        (m.spent * m.days_in_period / m.days_elapsed)::numeric(24,12) as projected_spend
    from measured as m
)

select
    p.budget_id,
    p.customer_slug,
    p.scope_type,
    p.scope_value,
    p.scope_type || ':' || p.scope_value as scope,
    p.period,
    p.period_start,
    p.period_end,
    p.limit_usd,
    p.is_soft,
    least({{ as_of }}, p.period_end - 1) as as_of_date,
    p.days_elapsed,
    p.days_in_period,
    p.spent::numeric(24,12) as spent,
    p.daily_burn,
    p.projected_spend,
    greatest(p.limit_usd - p.spent, 0)::numeric(24,12) as remaining,
    case
        when p.exhausted_on is not null then p.exhausted_on
        when p.daily_burn > 0
            and least({{ as_of }}, p.period_end - 1)
                + ceil((p.limit_usd - p.spent) / p.daily_burn)::integer < p.period_end
            then least({{ as_of }}, p.period_end - 1) + ceil((p.limit_usd - p.spent) / p.daily_burn)::integer
    end as runs_out_on,
    p.projected_spend >= p.limit_usd as forecast_exceeded,
    case
        when p.spent >= p.limit_usd then 'exhausted'
        when p.projected_spend >= p.limit_usd then 'projected_over'
        else 'on_track'
    end as status,
    p.changed_by,
    p.defined_at,
    now() as built_at
from projected as p
