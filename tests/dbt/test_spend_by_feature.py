"""marts.spend_by_feature on traffic that uses tools, images, audio, files, structured output and
reasoning: its money reconciles exactly (so to the cent) with the raw vault per day, customer and
feature, an incremental refresh after more traffic on the same days equals a full rebuild, and
cache writes and audio priced at their own rates recompute to the cost the gateway recorded."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import asyncpg
import pytest

from gateway.pipeline.events import price_event
from gateway.pricing import ModelPrice, TokenUsage, compute_cost
from warehouse.events import CostEvent, RequestEvent, TokenCounts
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

MARKUP = Decimal("20")
# A price with rates of its own for cache writes and audio (as genai-prices lists for Anthropic
# and Gemini models), for a model no synthetic event uses.
PRICE = ModelPrice(
    "anthropic",
    "claude-ff",
    Decimal("3"),
    Decimal("15"),
    Decimal("0.3"),
    cache_write_per_mtok=Decimal("3.75"),
    input_audio_per_mtok=Decimal("0.7"),
    source="test",
)
_USES: list[dict] = [
    {},
    {"tools_offered": 5, "tool_calls_returned": 2, "input_modalities": ["text"]},
    {"tools_offered": 3, "input_modalities": ["text", "image"], "response_format": "json_schema"},
    {"input_modalities": ["text", "audio"]},
    {"input_modalities": ["file", "text"], "response_format": "json_object", "validation_status": "passed"},
    {"reasoning_effort": "high"},
    {"reasoning_effort": "none", "response_format": "text"},
    {"response_format": "json_schema", "validation_status": "failed", "dropped_params": ["seed"]},
]


def _with_features(event: RequestEvent, i: int) -> RequestEvent:
    return event.model_copy(update=_USES[i % len(_USES)])


def _priced(event: RequestEvent, i: int) -> RequestEvent:
    """The event re-served by claude-ff with cache writes and audio, costed as the gateway does."""
    assert event.cost is not None
    tokens = TokenCounts(
        input_tokens=event.usage.input_tokens + 400,
        output_tokens=event.usage.output_tokens,
        cached_input_tokens=event.usage.cached_input_tokens,
        cache_write_tokens=300,
        audio_input_tokens=100 if i % 2 else 0,
        image_input_tokens=0 if i % 2 else 85,
    )
    cost = compute_cost(PRICE, TokenUsage.of(tokens), MARKUP)
    return event.model_copy(
        update={
            "provider": PRICE.provider,
            "model": PRICE.model,
            "usage": tokens,
            "input_modalities": ["text", "audio"] if i % 2 else ["text", "image"],
            "cost": CostEvent(
                cost_event_id=event.cost.cost_event_id,
                event_ts=event.cost.event_ts,
                tokens=tokens,
                input_per_mtok=PRICE.input_per_mtok,
                output_per_mtok=PRICE.output_per_mtok,
                cached_input_per_mtok=PRICE.cached_input_per_mtok,
                cache_write_per_mtok=PRICE.cache_write_per_mtok,
                input_audio_per_mtok=PRICE.input_audio_per_mtok,
                price_source=PRICE.source,
                is_priced=True,
                provider_cost=cost.provider_cost,
                markup_pct=MARKUP,
                markup_amount=cost.markup_amount,
                customer_cost=cost.customer_cost,
            ),
            "price": price_event(PRICE.provider, PRICE),
        }
    )


def _events() -> list[RequestEvent]:
    out = []
    for i, e in enumerate(synthetic_events(480, seed=61, customer_names=["acme", "globex"], realistic=True)):
        e = _with_features(e, i)
        out.append(
            _priced(e, i) if i % 5 == 0 and e.cost is not None and e.cost.optimisation == "none" else e
        )
    return out


EVENTS = _events()
FIRST = [e for i, e in enumerate(EVENTS) if i % 3]
MORE = [e for i, e in enumerate(EVENTS) if not i % 3]  # the same days again: an incremental refresh


def features(
    modalities: list[str], tools: int, calls: int, fmt: str | None, effort: str | None, u: dict
) -> set[str]:
    """The mart's rule, from the columns the raw vault holds (NULL = default)."""
    used = {
        "agent": tools > 0,
        "tool_calling": calls > 0,
        "vision": "image" in modalities or u["image"] > 0,
        "audio": "audio" in modalities or u["audio"] > 0,
        "file": "file" in modalities,
        "structured_output": fmt in ("json_object", "json_schema"),
        "reasoning": (effort is not None and effort != "none") or u["reasoning"] > 0,
    }
    return {name for name, yes in used.items() if yes} or {"plain"}


RAW = """
with details as (
  select distinct on (api_request_hk) * from raw_vault.sat_api_request_details
  order by api_request_hk, load_dts desc
), costs as (
  select distinct on (cost_event_hk) * from raw_vault.sat_cost_event_details
  order by cost_event_hk, load_dts desc
)
select c.customer_bk, (d.request_ts at time zone 'UTC')::date as day, d.status,
       coalesce(d.tools_offered, 0) as tools, coalesce(d.tool_calls_returned, 0) as calls,
       coalesce(d.input_modalities, '{}') as modalities, d.response_format, d.reasoning_effort,
       coalesce(d.image_input_tokens, 0) as image, coalesce(d.audio_input_tokens, 0) as audio,
       coalesce(d.reasoning_tokens, 0) as reasoning,
       coalesce(ce.provider_cost, 0) as provider_cost, coalesce(ce.customer_cost, 0) as customer_cost
from details d
join raw_vault.lnk_api_request_context ctx using (api_request_hk)
join raw_vault.hub_customer c on c.customer_hk = ctx.customer_hk
left join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
left join costs ce on ce.cost_event_hk = l.cost_event_hk
where d.api_request_hk <> decode(repeat('00', 32), 'hex')
"""
MART = """
select usage_date, customer_slug, feature, requests, failed_requests, provider_cost, customer_cost
from marts.spend_by_feature
"""


async def _expected(pool: asyncpg.Pool) -> dict[tuple[date, str, str], list]:
    out: dict[tuple[date, str, str], list] = defaultdict(lambda: [0, 0, Decimal(0), Decimal(0)])
    for r in await pool.fetch(RAW):
        used = features(
            list(r["modalities"]),
            r["tools"],
            r["calls"],
            r["response_format"],
            r["reasoning_effort"],
            dict(r),
        )
        for feature in used:
            row = out[(r["day"], r["customer_bk"], feature)]
            row[0] += 1
            row[1] += r["status"] != "success"
            row[2] += r["provider_cost"]
            row[3] += r["customer_cost"]
    return dict(out)


async def _mart(pool: asyncpg.Pool) -> dict[tuple[date, str, str], list]:
    return {
        (r["usage_date"], r["customer_slug"], r["feature"]): [
            r["requests"],
            r["failed_requests"],
            r["provider_cost"],
            r["customer_cost"],
        ]
        for r in await pool.fetch(MART)
    }


@pytest.fixture(scope="module")
async def built(module_pool: asyncpg.Pool, module_dbt) -> dict:
    loader = VaultLoader(module_pool)
    await loader.load(batch_from_events(FIRST))
    # cautious: only the tests whose every parent is built (not the billing ones)
    first = module_dbt("build", "--select", "+spend_by_feature", "--indirect-selection", "cautious").stdout
    await loader.load(batch_from_events(MORE))
    module_dbt("run", "--select", "+spend_by_feature")
    incremental = await _mart(module_pool)
    module_dbt("run", "--select", "spend_by_feature", "--full-refresh")
    return {"build": first, "incremental": incremental, "full": await _mart(module_pool)}


async def test_build_passes_the_marts_tests_and_unit_test(built: dict) -> None:
    assert "ERROR=0" in built["build"] and "spend_by_feature_counts_each_feature" in built["build"]


async def test_money_reconciles_with_the_raw_vault_per_day_customer_and_feature(
    built: dict, module_pool: asyncpg.Pool
) -> None:
    expected = await _expected(module_pool)
    assert built["incremental"] == expected  # exact Decimal sums: equal to the cent and below
    features_seen = {k[2] for k in expected}
    assert features_seen == {
        "agent",
        "tool_calling",
        "vision",
        "audio",
        "file",
        "structured_output",
        "reasoning",
        "plain",
    }
    # and with the events themselves: every charged request is in at least one feature row
    charged = sum(e.cost.customer_cost for e in EVENTS if e.cost is not None)
    plain_or_used = await module_pool.fetchval(
        "select sum(customer_cost) from marts.spend_by_feature where feature = 'plain'"
    )
    featured = sum(
        e.cost.customer_cost
        for e in EVENTS
        if e.cost is not None
        and features(
            e.input_modalities,
            e.tools_offered,
            e.tool_calls_returned,
            e.response_format,
            e.reasoning_effort,
            {"image": e.usage.image_input_tokens, "audio": e.usage.audio_input_tokens, "reasoning": 0},
        )
        != {"plain"}
    )
    assert plain_or_used + featured == charged


async def test_incremental_refresh_equals_a_full_rebuild(built: dict) -> None:
    assert built["incremental"] == built["full"]


async def test_cache_writes_and_audio_recompute_at_their_own_rates(
    built: dict, module_pool: asyncpg.Pool
) -> None:
    rows = await module_pool.fetch(
        "select cache_write_tokens, audio_input_tokens, pit_cache_write_per_mtok, pit_input_audio_per_mtok, "
        "recomputed_provider_cost, provider_cost, is_cost_mismatch "
        "from business_vault.sat_cost_event_computed where model = 'claude-ff'"
    )
    assert len(rows) > 10 and any(r["audio_input_tokens"] for r in rows)
    for r in rows:
        assert r["cache_write_tokens"] == 300 and r["pit_cache_write_per_mtok"] == Decimal("3.75")
        assert r["pit_input_audio_per_mtok"] == Decimal("0.7")
        assert r["recomputed_provider_cost"] == r["provider_cost"] and not r["is_cost_mismatch"]
