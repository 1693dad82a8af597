-- Staging view of raw_vault.sat_model_price: renamed business keys, virtual end-dating.
select
    model_hk,
    load_dts,
    hash_diff,
    record_source,
    currency,
    input_per_mtok,
    output_per_mtok,
    cached_input_per_mtok,
    reasoning_per_mtok,
    price_source,
    valid_from,
    valid_to,
    cache_write_per_mtok,  -- 013
    input_audio_per_mtok,
    {{ end_dating('model_hk') }}
from {{ source('raw_vault', 'sat_model_price') }}
