-- Staging view of raw_vault.lnk_credit_grant_customer.
select
    credit_grant_customer_hk,
    credit_grant_hk,
    customer_hk,
    load_dts,
    record_source
from {{ source('credits', 'lnk_credit_grant_customer') }}
