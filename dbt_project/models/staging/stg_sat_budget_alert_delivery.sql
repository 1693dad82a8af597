-- Staging view of raw_vault.sat_budget_alert_delivery: renamed business keys, virtual end-dating.
select
    budget_alert_hk,
    attempt_no,
    load_dts,
    hash_diff,
    record_source,
    scope,
    period,
    period_start,
    threshold_pct,
    budget,
    spent,
    webhook_url,
    attempted_ts,
    http_status,
    outcome,
    error,
    lead(load_dts) over (partition by budget_alert_hk, attempt_no order by load_dts) as load_end_dts,
    lead(load_dts) over (partition by budget_alert_hk, attempt_no order by load_dts) is null as is_current
from {{ source('raw_vault', 'sat_budget_alert_delivery') }}
