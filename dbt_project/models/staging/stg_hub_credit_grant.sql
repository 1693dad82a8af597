-- Staging view of raw_vault.hub_credit_grant: renamed business keys.
select
    credit_grant_hk,
    credit_grant_bk as grant_id,
    load_dts,
    record_source,
    {{ is_ghost('credit_grant_hk') }} as is_ghost
from {{ source('credits', 'hub_credit_grant') }}
