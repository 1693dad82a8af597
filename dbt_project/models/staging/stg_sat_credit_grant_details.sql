-- Staging view of raw_vault.sat_credit_grant_details: virtual end-dating; granted_at is the
-- grant's first row, voided_at the row that voided it.
select
    credit_grant_hk,
    load_dts,
    hash_diff,
    record_source,
    changed_by,
    status,
    amount,
    currency,
    priority,
    effective_at,
    expires_at,
    scope_kind,
    scope_key,
    scope_value,
    description,
    void_reason,
    min(load_dts) over (partition by credit_grant_hk) as granted_at,
    {{ end_dating('credit_grant_hk') }}
from {{ source('credits', 'sat_credit_grant_details') }}
