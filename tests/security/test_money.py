"""Money, as an attacker or an auditor would try it: free models, budgets outrun by answers longer
than their reservation or retried for invalid output, paid answers left off the bill, and streams
abandoned to hide what the provider billed (docs/security/money.md). Each runs a real gateway
against the provider simulator."""

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from gateway.admin.rules import create_rule
from gateway.pricing import ModelPrice, PriceCatalog, TokenUsage, compute_cost, estimate_max_cost
from gateway.simulator import SimulatorServer
from tests.gateway.conftest import sim, simulator_server  # noqa: F401
from tests.gateway.e2e.conftest import issue_key, wait_for_rows
from tests.security.conftest import Started, StartGateway

CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
UNPRICED = "house-llm-1"  # listed by the operator's self-hosted provider, priced nowhere
UNPRICED_IMAGE = "gpt-image-house"  # its image model (the simulator draws any gpt-image-*), likewise


# A self-hosted, OpenAI-compatible provider listing a model the operator forgot to price (the
# simulator plays that server too).
HOUSE = {
    "name": "house",
    "api_style": "openai_compatible",
    "api_key": "sim-house",
    "models": [UNPRICED, UNPRICED_IMAGE],
}


DETAILS_SQL = """
select d.*, c.output_tokens as billed_output_tokens, c.customer_cost, c.provider_cost, c.is_priced,
       c.price_source, c.input_per_mtok, c.output_per_mtok
from raw_vault.hub_api_request h
join raw_vault.sat_api_request_details d using (api_request_hk)
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
where h.api_request_bk = $1
"""


@pytest.fixture
def start(start_gateway: StartGateway) -> StartGateway:
    """``await start(**settings)``: a gateway on the test's vault whose catalog also lists HOUSE."""
    return functools.partial(start_gateway, providers=[HOUSE])


def client(server: Started, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {key}"}, timeout=30)


async def row(pool: asyncpg.Pool, request_id: str) -> asyncpg.Record:
    """The request's details and cost rows, once the loader has landed them."""
    counted = f"select count(*) from ({DETAILS_SQL.replace('$1', repr(request_id))}) r"
    assert await wait_for_rows(pool, counted, 1) == 1, f"{request_id} never reached the vault"
    return await pool.fetchrow(DETAILS_SQL, request_id)


# -- 1. unpriced models ------------------------------------------------------------------------
async def test_an_unpriced_model_is_refused_before_any_provider_call(
    start: StartGateway,
    sim: SimulatorServer,  # noqa: F811
    vault_pool: asyncpg.Pool,
) -> None:
    key, _ = await issue_key(vault_pool, "acme")
    server = await start()
    async with client(server, key) as c:
        plain = await c.post("/v1/ai/completions", json={"prompt": "free?", "model": UNPRICED})
        streamed = await c.post(
            "/v1/chat/completions",
            json={"model": UNPRICED, "stream": True, "messages": [{"role": "user", "content": "free?"}]},
        )
    for r in (plain, streamed):
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "model_unpriced" and UNPRICED in error["message"]
    assert sim.simulator.stats.snapshot()["total"] == 0  # nothing reached a provider


async def test_an_image_model_without_a_per_image_price_is_refused_before_any_call(
    start: StartGateway,
    sim: SimulatorServer,  # noqa: F811
    vault_pool: asyncpg.Pool,
) -> None:
    """A self-hosted server's image model has no list price: generating with it would be free
    and outside every budget (the reservation counts it as 0)."""
    key, _ = await issue_key(vault_pool, "acme")
    server = await start()
    async with client(server, key) as c:
        r = await c.post("/v1/images/generations", json={"prompt": "a free cat", "model": UNPRICED_IMAGE})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "model_unpriced" and UNPRICED_IMAGE in error["message"], error
    assert error["param"] == "model"
    assert sim.simulator.stats.snapshot()["total"] == 0  # nothing reached a provider
    allowed = await start(allow_unpriced=True)  # the operator's explicit choice: served, flagged
    async with client(allowed, key) as c:
        r = await c.post("/v1/images/generations", json={"prompt": "a flagged cat", "model": UNPRICED_IMAGE})
    assert r.status_code == 200, r.text


async def test_with_a_fallback_price_an_unpriced_model_is_billed_at_it(
    start: StartGateway, vault_pool: asyncpg.Pool
) -> None:
    key, _ = await issue_key(vault_pool, "acme")
    server = await start(fallback_input_per_mtok=Decimal("3"), fallback_output_per_mtok=Decimal("7"))
    async with client(server, key) as c:
        r = await c.post("/v1/ai/completions", json={"prompt": "priced now", "model": UNPRICED})
    assert r.status_code == 200, r.text
    out = r.json()
    usage = out["usage"]
    provider_cost = (Decimal(usage["input_tokens"]) * 3 + Decimal(usage["output_tokens"]) * 7) / 10**6
    assert out["cost"]["priced"] is True and Decimal(out["cost"]["provider_cost"]) == provider_cost
    assert Decimal(out["cost"]["customer_cost"]) == provider_cost * Decimal("1.2")  # default markup
    vault = await row(vault_pool, out["id"])
    assert vault["is_priced"] and vault["price_source"] == "fallback:settings"
    assert (vault["input_per_mtok"], vault["output_per_mtok"]) == (3, 7)
    assert vault["provider_cost"] == provider_cost


# -- 2. budgets and requests without max_tokens ------------------------------------------------
async def test_concurrent_requests_without_max_tokens_cannot_outrun_a_budget(
    start: StartGateway,
    sim: SimulatorServer,  # noqa: F811
    vault_pool: asyncpg.Pool,
) -> None:
    """Each request reserves 4,096 output tokens (the default bound) but the model would write
    20,000: unless the bound is sent upstream, every admitted answer costs ~5x its reservation."""
    budget = Decimal("0.01")  # gpt-4o-mini: ~0.003 USD reserved per request, so ~3 fit at once
    customer = f"t{uuid.uuid4().hex[:10]}"
    key, _ = await issue_key(vault_pool, customer, budget_daily=budget)
    acme, _ = await issue_key(vault_pool, "acme")  # no budget at all
    sim.simulator.configure(output_tokens=20_000)
    server = await start()
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "write at length"}]}
    async with client(server, key) as c:
        answers = await asyncio.gather(*(c.post("/v1/chat/completions", json=body) for _ in range(12)))
    ok = [r for r in answers if r.status_code == 200]
    assert ok and all(r.status_code == 402 for r in answers if r not in ok)
    spent = sum(Decimal(r.json()["onevault"]["cost"]["customer_cost"]) for r in ok)
    assert spent <= budget, f"{len(ok)} answers spent {spent} USD of a {budget} USD budget"
    # The bound was sent, and the answer says truthfully that it stopped there.
    sent = [e["body"] for e in sim.simulator.stats.snapshot()["recent"]]
    assert {b.get("max_completion_tokens") for b in sent} == {4096}
    assert {r.json()["choices"][0]["finish_reason"] for r in ok} == {"length"}
    # Without a spending limit nothing is changed: the client's request goes up as it asked.
    sim.simulator.configure(output_tokens=64)
    async with client(server, acme) as c:
        free = await c.post("/v1/chat/completions", json=body)
    assert free.status_code == 200
    assert "max_completion_tokens" not in sim.simulator.stats.snapshot()["recent"][-1]["body"]


ATTEMPTS_SQL = """
select a.input_tokens, a.output_tokens, a.error_class from raw_vault.sat_api_request_attempt a
join raw_vault.hub_api_request h using (api_request_hk) where h.api_request_bk = $1 order by attempt_no
"""


BILLED_SQL = """
select coalesce(sum(c.customer_cost), 0) from raw_vault.hub_api_request h
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk) where h.api_request_bk = $1
"""


async def extraction(vault_pool: asyncpg.Pool, server: Started, customer: str, key: str) -> str:
    """A structured request whose rule retries invalid answers twice, every answer invalid (each
    ~0.024 USD of gpt-4o prompt); returns its request id once the vault has it."""
    await create_rule(
        vault_pool,
        customer,
        changed_by="t",
        name="extract",
        conditions={"type": "extract"},
        target="openai/gpt-4o",
        options={"on_invalid_output": "retry", "max_output_retries": 2},
    )
    body = {
        "model": "gpt-4o",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Which city? " + "context " * 4000}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "c", "schema": CITY, "strict": True},
        },
        "metadata": {"type": "extract"},
    }
    async with client(server, key) as c:
        r = await c.post("/v1/chat/completions", json=body)
    assert r.status_code in (402, 422), r.text
    request_id = r.json()["error"]["request_id"]
    landed = f"select count(*) from raw_vault.hub_api_request where api_request_bk = {request_id!r}"
    assert await wait_for_rows(vault_pool, landed, 1) == 1
    return request_id


async def paid(vault_pool: asyncpg.Pool, request_id: str) -> tuple[Decimal, list[asyncpg.Record]]:
    """What the provider was paid for the request's answers (gpt-4o list price, 20 % markup)."""
    attempts = await vault_pool.fetch(ATTEMPTS_SQL, request_id)
    price = PriceCatalog().lookup("openai", "gpt-4o", datetime.now(UTC))
    costs = [
        compute_cost(price, TokenUsage(a["input_tokens"], a["output_tokens"]), Decimal(20)) for a in attempts
    ]
    return sum((c.customer_cost for c in costs), Decimal(0)), attempts


async def test_answers_refused_by_output_validation_are_billed_when_every_try_fails(
    start: StartGateway,
    sim: SimulatorServer,  # noqa: F811
    vault_pool: asyncpg.Pool,
) -> None:
    key, _ = await issue_key(vault_pool, "acme")
    sim.simulator.inject("bad_output")  # every answer fails the schema
    request_id = await extraction(vault_pool, await start(), "acme", key)
    owed, attempts = await paid(vault_pool, request_id)
    assert [a["error_class"] for a in attempts] == ["invalid_output"] * sim.simulator.stats.snapshot()[
        "total"
    ]
    billed = await vault_pool.fetchval(BILLED_SQL, request_id)  # lands with the request, or never
    assert billed == owed > 0, f"the provider was paid {owed} USD for the answers, the ledger billed {billed}"
    vault = await row(vault_pool, request_id)
    assert (vault["http_status"], vault["validation_status"]) == (422, "failed")


async def test_answers_retried_for_invalid_output_cannot_outrun_a_budget(
    start: StartGateway,
    sim: SimulatorServer,  # noqa: F811
    vault_pool: asyncpg.Pool,
) -> None:
    """The budget covers one answer's worst case; the rule may pay for three."""
    budget = Decimal("0.03")
    customer = f"t{uuid.uuid4().hex[:10]}"
    key, _ = await issue_key(vault_pool, customer, budget_daily=budget)
    sim.simulator.inject("bad_output")
    request_id = await extraction(vault_pool, await start(), customer, key)
    owed, _ = await paid(vault_pool, request_id)
    assert owed <= budget, f"the provider was paid {owed} USD on a {budget} USD budget"


def test_a_reservation_prices_the_prompt_at_its_dearest_input_rate() -> None:
    """Anthropic bills prompt-cache writes at 1.25x the input rate: a worst case at the plain
    input rate is outspent by a prompt written to the cache."""
    price = ModelPrice("anthropic", "m", Decimal("3"), Decimal("15"), cache_write_per_mtok=Decimal("3.75"))
    worst = estimate_max_cost(price, 1_000_000, 0, Decimal(0))
    assert worst == Decimal("3.75")


# -- 3. streams abandoned after the first chunk ---------------------------------------------------
async def stream_then_leave(server: Started, key: str, model: str) -> str:
    """Stream a chat completion, read up to the first content chunk, then hang up."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "think hard"}]}
    async with client(server, key) as c, c.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        request_id = r.headers["x-request-id"]
        async for line in r.aiter_lines():
            if line.startswith("data: {"):
                delta: dict[str, Any] = orjson.loads(line[6:])["choices"][0]["delta"]
                if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
                    break
    return request_id


async def test_a_stream_dropped_after_its_first_chunk_is_billed_the_providers_full_usage(
    start: StartGateway,
    sim: SimulatorServer,  # noqa: F811
    vault_pool: asyncpg.Pool,
) -> None:
    key, _ = await issue_key(vault_pool, "acme")
    # o3-mini thinks: 40 visible tokens and 20 hidden reasoning ones, streamed over ~0.4 s.
    sim.simulator.configure(output_tokens=40, stream_chunk_delay_ms=10)
    server = await start()
    request_id = await stream_then_leave(server, key, "o3-mini")
    vault = await row(vault_pool, request_id)
    assert (vault["output_tokens"], vault["reasoning_tokens"]) == (60, 20)  # what the provider bills
    assert vault["billed_output_tokens"] == 60 and vault["customer_cost"] > 0
    assert vault["finish_reason"] == "client_disconnected"
    assert vault["usage_source"] == "provider_after_disconnect"  # and the row says how it knows
    assert vault["attempt_count"] == 1


async def test_a_dropped_stream_read_on_past_its_bound_is_cut_and_flagged_estimated(
    start: StartGateway,
    sim: SimulatorServer,  # noqa: F811
    vault_pool: asyncpg.Pool,
) -> None:
    key, _ = await issue_key(vault_pool, "acme")
    sim.simulator.configure(output_tokens=400, stream_chunk_delay_ms=20)  # ~8 s to the usage
    server = await start(stream_drain_s=0.2)
    request_id = await stream_then_leave(server, key, "gpt-4o-mini")
    vault = await row(vault_pool, request_id)
    assert vault["usage_source"] == "estimate_after_disconnect"
    assert vault["finish_reason"] == "client_disconnected"
    assert 0 < vault["output_tokens"] < 400  # what arrived before the cut, estimated
