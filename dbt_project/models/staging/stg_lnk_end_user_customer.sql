-- Staging view of raw_vault.lnk_end_user_customer: renamed business keys.
select
    end_user_customer_hk,
    end_user_hk,
    customer_hk,
    load_dts,
    record_source
from {{ source('raw_vault', 'lnk_end_user_customer') }}
