-- Point-in-time prices: one row per price version of a (provider, model) with the interval
-- [effective_from, effective_to) in which it was in force, so a request joins to the price in
-- force at its own time. A version's start is its valid_from; without one, the model's first
-- loaded price also covers everything before it and a later price starts when it was loaded.
-- Its end is its valid_to, else the next version's start.
with versions as (
    select
        p.model_hk,
        h.provider,
        h.model,
        p.load_dts as sat_load_dts,
        p.currency,
        p.input_per_mtok,
        p.output_per_mtok,
        p.cached_input_per_mtok,
        p.reasoning_per_mtok,
        p.cache_write_per_mtok,
        p.input_audio_per_mtok,
        p.price_source,
        p.valid_from,
        p.valid_to,
        row_number() over (partition by p.model_hk order by p.load_dts) as load_order
    from {{ ref('stg_sat_model_price') }} as p
    join {{ ref('stg_hub_model') }} as h on h.model_hk = p.model_hk
),

starts as (
    select
        *,
        coalesce(
            valid_from,
            case when load_order = 1 then '-infinity'::timestamptz else sat_load_dts end
        ) as effective_from
    from versions
)

select
    model_hk,
    provider,
    model,
    sat_load_dts,
    effective_from,
    coalesce(
        valid_to,
        lead(effective_from) over (partition by model_hk order by effective_from, sat_load_dts),
        'infinity'::timestamptz
    ) as effective_to,
    currency,
    input_per_mtok,
    output_per_mtok,
    cached_input_per_mtok,
    reasoning_per_mtok,
    cache_write_per_mtok,
    input_audio_per_mtok,
    price_source
from starts
