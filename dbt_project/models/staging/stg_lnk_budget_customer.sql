-- Staging view of raw_vault.lnk_budget_customer: renamed business keys.
select
    budget_customer_hk,
    budget_hk,
    customer_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_budget_customer') }}
