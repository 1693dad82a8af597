{#- Spend anomalies (models/marts/spend_hourly.sql, spend_anomalies.sql; docs/billing/anomalies.md).

    anomaly_setting(name): the documented thresholds, each overridable with `--vars`:
      anomaly_baseline_weeks      4     same hour-of-week in the previous 4 weeks is the baseline
      anomaly_min_baseline_weeks  2     fewer weeks of history than this: not judged
      anomaly_eval_days           7     hours judged in a cold build: the last 7 days of traffic
      anomaly_z                   3.5   robust z-score |x - median| / (1.4826 · MAD) to flag
      anomaly_rel_floor           0.1   the scale is at least 10 % of the median (MAD 0 is common)
      anomaly_spike_ratio         2     a spike is also at least 2 × the median
      anomaly_drop_ratio          0.5   a drop is also at most 0.5 × the median
      anomaly_min_requests        20    a requests spike needs ≥ 20 requests, a drop a median ≥ 20
      anomaly_min_spend           1     the same for spend, in the billing currency (customer cost)
    They are vars with defaults here, not in dbt_project.yml, so the defaults live in one place. -#}
{% macro anomaly_setting(name) -%}
    {%- set defaults = {
        'anomaly_baseline_weeks': 4,
        'anomaly_min_baseline_weeks': 2,
        'anomaly_eval_days': 7,
        'anomaly_z': 3.5,
        'anomaly_rel_floor': 0.1,
        'anomaly_spike_ratio': 2,
        'anomaly_drop_ratio': 0.5,
        'anomaly_min_requests': 20,
        'anomaly_min_spend': 1,
    } -%}
    {{- return(var(name, defaults[name])) -}}
{%- endmacro %}

{#- The UTC hours a request-hour mart must recompute: hours with requests or cost events the
    business vault (re)built since this model's last run (as touched_request_dates_sql, per hour). -#}
{% macro touched_request_hours_sql() -%}
    select distinct date_trunc('hour', request_ts, 'UTC')
    from {{ ref('bridge_api_request') }}
    where {{ built_since_last_run(ref('bridge_api_request'), 'built_at') }}
    union
    select distinct b.hour_start
    from {{ ref('sat_cost_event_computed') }} as c
    cross join lateral (
        select date_trunc('hour', r.request_ts, 'UTC') as hour_start
        from {{ ref('bridge_api_request') }} as r
        where r.api_request_hk = c.api_request_hk
        offset 0
    ) as b
    where {{ built_since_last_run(ref('sat_cost_event_computed'), 'c.built_at') }}
{%- endmacro %}

{#- A median of a numeric expression, exactly (no cast to float): the mean of the lower and the
    upper middle value (percentile_disc ascending and descending), the middle one when odd. -#}
{% macro exact_median(expr) -%}
    ((percentile_disc(0.5) within group (order by {{ expr }})
      + percentile_disc(0.5) within group (order by {{ expr }} desc)) / 2)
{%- endmacro %}

{#- Values as a typed SQL array literal (array[]::type[] when there is none): for `= any(...)`
    and unnest, where sql_list's (...) list does not fit. -#}
{% macro sql_array(values, cast) -%}
    {%- if values | length == 0 -%}
        array[]::{{ cast }}[]
    {%- else -%}
        array[{% for v in values %}'{{ v }}'{{ ", " if not loop.last }}{% endfor %}]::{{ cast }}[]
    {%- endif -%}
{%- endmacro %}
