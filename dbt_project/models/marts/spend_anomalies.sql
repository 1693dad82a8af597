-- Hourly spend and requests per customer, gateway key and model (from spend_hourly) judged
-- against a robust baseline: the median and the MAD (median absolute deviation) of the same
-- hour of the week in the previous anomaly_baseline_weeks (4) weeks. A week before the grain's
-- first traffic is not part of its baseline; a week with no traffic at that hour counts as 0.
-- Fewer than anomaly_min_baseline_weeks (2) weeks of history: the hour is shown, not judged.
--
-- Flags, per metric (spend = customer cost, and requests), thresholds in macros/anomalies.sql:
--   score = (observed - median) / greatest(1.4826 * MAD, rel_floor * median, unit)
--     (1.4826 * MAD estimates the standard deviation of normal data; the floor keeps steady
--     traffic, whose MAD is often 0, from turning a small wobble into a huge score; unit is
--     1 request or 0.01 of spend)
--   spike: score >= z (3.5) and observed >= spike_ratio (2) * median and observed >= the
--          minimum volume (20 requests / 1.00 spend);
--   drop:  score <= -z and observed <= drop_ratio (0.5) * median and the median >= the minimum
--          volume; only for complete hours (an hour the data clock has left), so the hour in
--          progress never looks like a drop.
-- anomaly is 'spike' when either metric spiked, else 'drop' when either dropped; anomaly_id
-- names the flag (customer|key|provider/model|hour|kind) for the spend.anomaly webhook, which
-- remembers what it sent in the vault (sql/019_anomaly_alerts.sql).
--
-- The data clock is the newest request in spend_hourly (not now(): loads and replays may lag).
-- Cheap by construction: a cold build judges the last anomaly_eval_days (7) days of hours; a
-- refresh judges only the hours spend_hourly rebuilt since this model last ran, the same hours
-- 1..4 weeks later (their baseline changed) and the hours from the last judged one to the
-- clock (an hour that just became complete may now be a drop), all as literals. Every read of
-- spend_hourly is a lateral lookup by one of its indexes (hour_start; grain_key, hour_start),
-- kept lateral by a limit or offset: a plain join is planned from the CTEs' row estimates, far
-- off, as sorts of the whole model.
{% set weeks = anomaly_setting('anomaly_baseline_weeks') | int %}
{{ config(
    materialized='incremental',
    unique_key='hour_start',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
      {'columns': ['hour_start']},
      {'columns': ['customer_slug', 'hour_start']},
      {'columns': ['anomaly_id']},
      {'columns': ['built_at']},
    ],
) }}

{% set eval_days = anomaly_setting('anomaly_eval_days') | int %}
{% if is_incremental() %}
{% set touched_sql %}
    select distinct hour_start from {{ ref('spend_hourly') }}
    where {{ built_since_last_run(ref('spend_hourly'), 'built_at') }}
{% endset %}
{% set touched = query_values(touched_sql) %}
{% set judged = query_values("select max(hour_start) from " ~ this) %}
{% endif %}

with clock as (
    -- the newest request (by spend_hourly's hour_start index), in SQL so unit tests see it
    select q.ts, date_trunc('hour', q.ts, 'UTC') as newest_hour
    from (
        select max(s.last_request_ts) as ts from {{ ref('spend_hourly') }} as s
        where s.hour_start = (select max(hour_start) from {{ ref('spend_hourly') }})
    ) as q
),

hours as (
    select distinct h.hour_start
    from clock
    cross join lateral (
        {% if is_incremental() %}
        select t + w * interval '1 week' as hour_start
        from unnest({{ sql_array(touched, 'timestamptz') }}) as t
        cross join generate_series(0, {{ weeks }}) as w
        union all
        select generate_series(
            greatest(
                {% if judged | length > 0 %}'{{ judged[0] }}'::timestamptz{% else %}clock.newest_hour{% endif %},
                clock.newest_hour - interval '{{ eval_days }} days'
            ),
            clock.newest_hour,
            interval '1 hour'
        )
        {% else %}
        select generate_series(
            clock.newest_hour - interval '{{ eval_days }} days', clock.newest_hour, interval '1 hour'
        ) as hour_start
        {% endif %}
    ) as h
    where h.hour_start between clock.newest_hour - interval '{{ eval_days }} days' and clock.newest_hour
),

candidates as (
    -- every grain with traffic in the hour or in one of its baseline hours (so a grain that
    -- went silent is judged too)
    select distinct h.hour_start, s.grain_key
    from hours as h
    cross join generate_series(0, {{ weeks }}) as w
    cross join lateral (
        select s.grain_key from {{ ref('spend_hourly') }} as s
        where s.hour_start = h.hour_start - w * interval '1 week'
        offset 0  -- not flattened into a join
    ) as s
),

grains as (
    -- what each grain is, and its first hour of traffic (by the grain_key, hour_start index)
    select g.grain_key, f.customer_slug, f.gateway_key_id, f.provider, f.model, f.hour_start as first_hour
    from (select distinct grain_key from candidates) as g
    cross join lateral (
        select s.customer_slug, s.gateway_key_id, s.provider, s.model, s.hour_start
        from {{ ref('spend_hourly') }} as s
        where s.grain_key = g.grain_key
        order by s.hour_start
        limit 1
    ) as f
),

history as (
    select
        c.hour_start,
        c.grain_key,
        coalesce(s.requests, 0)::numeric as requests,
        coalesce(s.customer_cost, 0)::numeric as spend
    from candidates as c
    join grains as g on g.grain_key = c.grain_key
    cross join generate_series(1, {{ weeks }}) as w
    left join lateral (
        select s.requests, s.customer_cost from {{ ref('spend_hourly') }} as s
        where s.grain_key = c.grain_key and s.hour_start = c.hour_start - w * interval '1 week'
        limit 1  -- one row per grain and hour; the limit also keeps the lookup a lateral one
    ) as s on true
    where c.hour_start - w * interval '1 week' >= g.first_hour
),

medians as (
    select
        hour_start,
        grain_key,
        count(*) as baseline_weeks,
        {{ exact_median('requests') }} as requests_median,
        {{ exact_median('spend') }} as spend_median
    from history
    group by 1, 2
),

deviations as (
    select
        m.hour_start,
        m.grain_key,
        {{ exact_median('abs(h.requests - m.requests_median)') }} as requests_mad,
        {{ exact_median('abs(h.spend - m.spend_median)') }} as spend_mad
    from history as h
    join medians as m on m.hour_start = h.hour_start and m.grain_key = h.grain_key
    group by 1, 2
),

judged as (
    select
        c.hour_start,
        g.customer_slug,
        g.gateway_key_id,
        g.provider,
        g.model,
        c.grain_key,
        coalesce(s.requests, 0) as requests,
        coalesce(s.customer_cost, 0)::numeric(24,12) as customer_cost,
        c.hour_start + interval '1 hour' <= clock.ts as is_complete_hour,
        coalesce(m.baseline_weeks, 0) as baseline_weeks,
        m.requests_median,
        d.requests_mad,
        m.spend_median,
        d.spend_mad,
        (coalesce(s.requests, 0) - m.requests_median)
            / greatest(1.4826 * d.requests_mad, {{ anomaly_setting('anomaly_rel_floor') }} * m.requests_median, 1)
            as requests_score,
        (coalesce(s.customer_cost, 0) - m.spend_median)
            / greatest(1.4826 * d.spend_mad, {{ anomaly_setting('anomaly_rel_floor') }} * m.spend_median, 0.01)
            as spend_score
    from candidates as c
    cross join clock
    join grains as g on g.grain_key = c.grain_key
    left join lateral (
        select s.requests, s.customer_cost from {{ ref('spend_hourly') }} as s
        where s.grain_key = c.grain_key and s.hour_start = c.hour_start
        limit 1
    ) as s on true
    left join medians as m on m.hour_start = c.hour_start and m.grain_key = c.grain_key
    left join deviations as d on d.hour_start = c.hour_start and d.grain_key = c.grain_key
),

flagged as (
    select
        j.*,
        case
            when j.baseline_weeks < {{ anomaly_setting('anomaly_min_baseline_weeks') }} then null
            when j.requests_score >= {{ anomaly_setting('anomaly_z') }}
             and j.requests >= {{ anomaly_setting('anomaly_spike_ratio') }} * j.requests_median
             and j.requests >= {{ anomaly_setting('anomaly_min_requests') }} then 'spike'
            when j.is_complete_hour
             and j.requests_score <= -{{ anomaly_setting('anomaly_z') }}
             and j.requests <= {{ anomaly_setting('anomaly_drop_ratio') }} * j.requests_median
             and j.requests_median >= {{ anomaly_setting('anomaly_min_requests') }} then 'drop'
        end as requests_flag,
        case
            when j.baseline_weeks < {{ anomaly_setting('anomaly_min_baseline_weeks') }} then null
            when j.spend_score >= {{ anomaly_setting('anomaly_z') }}
             and j.customer_cost >= {{ anomaly_setting('anomaly_spike_ratio') }} * j.spend_median
             and j.customer_cost >= {{ anomaly_setting('anomaly_min_spend') }} then 'spike'
            when j.is_complete_hour
             and j.spend_score <= -{{ anomaly_setting('anomaly_z') }}
             and j.customer_cost <= {{ anomaly_setting('anomaly_drop_ratio') }} * j.spend_median
             and j.spend_median >= {{ anomaly_setting('anomaly_min_spend') }} then 'drop'
        end as spend_flag
    from judged as j
)

select
    f.hour_start,
    ((extract(isodow from f.hour_start at time zone 'UTC') - 1) * 24
        + extract(hour from f.hour_start at time zone 'UTC'))::integer as hour_of_week,
    f.customer_slug,
    f.gateway_key_id,
    f.provider,
    f.model,
    f.grain_key,
    f.requests,
    f.customer_cost,
    f.is_complete_hour,
    f.baseline_weeks::integer as baseline_weeks,
    f.requests_median::numeric(24,6) as requests_median,
    f.requests_mad::numeric(24,6) as requests_mad,
    round(f.requests_score, 3)::numeric(24,3) as requests_score,
    f.spend_median::numeric(24,12) as spend_median,
    f.spend_mad::numeric(24,12) as spend_mad,
    round(f.spend_score, 3)::numeric(24,3) as spend_score,
    f.requests_flag,
    f.spend_flag,
    k.anomaly,
    case when k.anomaly is not null then concat_ws('|',
        f.customer_slug, coalesce(f.gateway_key_id, '-'), coalesce(f.provider, '-') || '/' || coalesce(f.model, '-'),
        to_char(f.hour_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24":00Z"'), k.anomaly
    ) end as anomaly_id,
    now() as built_at
from flagged as f
cross join lateral (
    select case
        when 'spike' in (f.requests_flag, f.spend_flag) then 'spike'
        when 'drop' in (f.requests_flag, f.spend_flag) then 'drop'
    end as anomaly
) as k
