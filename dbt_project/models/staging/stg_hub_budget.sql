-- Staging view of raw_vault.hub_budget: renamed business keys.
select
    budget_hk,
    budget_bk as budget_id,
    load_dts,
    record_source,
    {{ is_ghost('budget_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_budget') }}
