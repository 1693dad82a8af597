-- Computed satellite of cost events: each event with the request it belongs to (customer, key,
-- end user, provider, model, tags from the bridge), the price in force at its event_ts from the
-- price history (pit_model_price), the cost recomputed with that price, and a flag when the
-- recomputed cost differs from what the gateway recorded. Money stays numeric(24,12).
-- Recipe (as gateway/pricing/cost.py): the input split into cached reads, cache writes and audio
-- (sql/013; each capped by what the input has left, in that order) and the rest; cached reads at
-- the cached price, cache writes at the cache-write price, audio at the audio price (each the
-- input price when none), the rest at the input price, output tokens (reasoning included) at the
-- output price, divided by a million, rounded half-up to 12 places. A cost event has one
-- link to its request (the unique test on cost_event_hk would catch a second).
-- Incremental on the raw satellite's load_dts with a lookback; an event the lookback re-reads
-- that is already built from the same row is skipped (built_at then stays as it was).
{{ config(
    materialized='incremental',
    unique_key='cost_event_hk',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    indexes=[
      {'columns': ['cost_event_hk'], 'unique': True},
      {'columns': ['loaded_at']},
      {'columns': ['customer_slug', 'event_ts']},
      {'columns': ['built_at']},
    ],
) }}

with cost as (
    -- The latest row of each cost event loaded since the last run, from the raw satellite (a
    -- filter on load_dts cannot reach below the staging view's lead() window).
    select distinct on (c.cost_event_hk) c.*
    from {{ source('raw_vault', 'sat_cost_event_details') }} as c
    {% if is_incremental() %}
    where {{ loaded_since_last_run('c.load_dts') }}
    {% endif %}
    order by c.cost_event_hk, c.load_dts desc
),

{% if is_incremental() %}
fresh as (
    -- an event the lookback re-read that is already built from the same row is skipped
    select c.* from cost as c
    where {{ not_built_from_same_row('c', 'cost_event_hk') }}
),
{% endif %}

priced as (
    select
        c.cost_event_hk,
        hc.cost_event_id,
        b.api_request_hk,
        b.request_id,
        b.customer_slug,
        b.gateway_key_id,
        b.end_user_id,
        b.provider,
        b.model,
        b.model_hk,
        b.team,
        b.project,
        b.cost_center,
        b.tags,
        c.event_ts,
        date_trunc('month', c.event_ts at time zone 'UTC')::date as event_period,
        c.load_dts as loaded_at,
        c.charge_class,
        c.currency,
        c.input_tokens,
        c.output_tokens,
        c.cached_input_tokens,
        c.reasoning_tokens,
        coalesce(c.cache_write_tokens, 0) as cache_write_tokens,
        coalesce(c.audio_input_tokens, 0) as audio_input_tokens,
        c.is_priced,
        c.price_source,
        c.input_per_mtok,
        c.output_per_mtok,
        c.cached_input_per_mtok,
        c.provider_cost,
        c.markup_pct,
        c.markup_amount,
        c.customer_cost,
        c.baseline_model,
        c.baseline_cost,
        c.optimisation,
        p.sat_load_dts as pit_price_load_dts,
        p.price_source as pit_price_source,
        p.input_per_mtok as pit_input_per_mtok,
        p.output_per_mtok as pit_output_per_mtok,
        p.cached_input_per_mtok as pit_cached_input_per_mtok,
        p.cache_write_per_mtok as pit_cache_write_per_mtok,
        p.input_audio_per_mtok as pit_input_audio_per_mtok
    from {{ 'fresh' if is_incremental() else 'cost' }} as c
    join {{ ref('stg_hub_cost_event') }} as hc on hc.cost_event_hk = c.cost_event_hk
    join {{ ref('stg_lnk_cost_event_api_request') }} as l on l.cost_event_hk = c.cost_event_hk
    join {{ ref('bridge_api_request') }} as b on b.api_request_hk = l.api_request_hk
    left join {{ ref('pit_model_price') }} as p
      on p.model_hk = b.model_hk
     and c.event_ts >= p.effective_from
     and c.event_ts < p.effective_to
),

recomputed as (
    select
        pr.*,
        case when pr.pit_input_per_mtok is not null then round((
            (pr.input_tokens - k.cached_part - k.write_part - a.audio_part) * pr.pit_input_per_mtok
            + k.cached_part * coalesce(pr.pit_cached_input_per_mtok, pr.pit_input_per_mtok)
            + k.write_part * coalesce(pr.pit_cache_write_per_mtok, pr.pit_input_per_mtok)
            + a.audio_part * coalesce(pr.pit_input_audio_per_mtok, pr.pit_input_per_mtok)
            + pr.output_tokens * pr.pit_output_per_mtok
        ) / 1000000, 12) end as recomputed_provider_cost
    from priced as pr
    -- the input's kinds, each capped by what the input has left: cached reads, writes, audio
    cross join lateral (
        select
            least(pr.cached_input_tokens, pr.input_tokens) as cached_part,
            least(pr.cache_write_tokens, pr.input_tokens - least(pr.cached_input_tokens, pr.input_tokens))
              as write_part
    ) as k
    cross join lateral (
        select least(pr.audio_input_tokens, pr.input_tokens - k.cached_part - k.write_part) as audio_part
    ) as a
)

select
    *,
    recomputed_provider_cost - provider_cost as cost_difference,
    -- A cache hit is not billed at list price, an unpriced event has nothing to compare, and an
    -- image priced per image (price_source 'image:...', gateway/pricing/images.py) has no token
    -- price to recompute from: its unit price and count are in the price_source itself.
    case
        when optimisation like 'cache%' or not is_priced or price_source like 'image:%' then false
        else recomputed_provider_cost is distinct from provider_cost
    end as is_cost_mismatch,
    now() as built_at
from recomputed
