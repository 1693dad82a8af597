-- Staging view of raw_vault.hub_credit_grant: renamed business keys.
select
    credit_grant_hk,
    credit_grant_bk as grant_id,
    load_dts,
    record_source,
    credit_grant_hk = decode(repeat('00', 32), 'hex') as is_ghost
from {{ source('credits', 'hub_credit_grant') }}
