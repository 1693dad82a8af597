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
    {{ end_dating('budget_alert_hk, attempt_no') }}
from {{ source('raw_vault', 'sat_budget_alert_delivery') }}
