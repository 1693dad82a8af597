-- Staging view of raw_vault.hub_end_user: renamed business keys.
select
    end_user_hk,
    customer_bk as customer_slug,
    end_user_bk as end_user_id,
    load_dts,
    record_source,
    {{ is_ghost('end_user_hk') }} as is_ghost
from {{ source('raw_vault', 'hub_end_user') }}
