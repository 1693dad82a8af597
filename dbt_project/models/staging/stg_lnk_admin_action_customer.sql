-- Staging view of raw_vault.lnk_admin_action_customer: renamed business keys.
select
    admin_action_customer_hk,
    admin_action_hk,
    customer_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_admin_action_customer') }}
