-- Staging view of raw_vault.sat_budget_definition: virtual end-dating (a removal is a row with
-- is_active = false, so the current row says whether the budget is still in force).
select
    budget_hk,
    load_dts,
    hash_diff,
    record_source,
    changed_by,
    scope_type,
    scope_value,
    period,
    limit_usd,
    is_soft,
    alert_thresholds,
    is_active,
    {{ end_dating('budget_hk') }}
from {{ source('raw_vault', 'sat_budget_definition') }}
