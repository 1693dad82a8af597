-- Staging view of raw_vault.sat_customer_webhook_secret: renamed business keys, virtual end-dating.
select
    customer_hk,
    load_dts,
    hash_diff,
    record_source,
    changed_by,
    kek_id,
    fingerprint,
    lead(load_dts) over (partition by customer_hk order by load_dts) as load_end_dts,
    lead(load_dts) over (partition by customer_hk order by load_dts) is null as is_current
from {{ source('raw_vault', 'sat_customer_webhook_secret') }}
