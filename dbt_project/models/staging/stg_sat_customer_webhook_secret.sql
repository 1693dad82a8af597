-- Staging view of raw_vault.sat_customer_webhook_secret: renamed business keys, virtual end-dating.
select
    customer_hk,
    load_dts,
    hash_diff,
    record_source,
    changed_by,
    kek_id,
    fingerprint,
    {{ end_dating('customer_hk') }}
from {{ source('raw_vault', 'sat_customer_webhook_secret') }}
