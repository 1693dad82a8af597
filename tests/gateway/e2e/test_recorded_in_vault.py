"""Every answered request leaves exactly one request in the vault with its context, attempts
and cost — through the official OpenAI SDK and through raw httpx, streamed or not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from openai import AsyncOpenAI

from gateway.app import GatewayConfig, create_app
from gateway.cli.up import simulator_catalog
from gateway.crypto.keyring import admin_token
from gateway.simulator import SimulatorServer
from tests.gateway.e2e.conftest import (
    REAL_REQUESTS,
    Gateway,
    ServerThread,
    gateway_settings,
    issue_key,
    wait_for_rows,
)
from warehouse.embedded import RedisEndpoint
from warehouse.hashing import GHOST_HK

REQUEST_SQL = """
select h.api_request_bk, d.*,
       (select count(*) from raw_vault.hub_api_request where api_request_bk = $1) as hubs,
       (select count(*) from raw_vault.lnk_api_request_context l where l.api_request_hk = h.api_request_hk)
         as links,
       (select count(*) from raw_vault.sat_api_request_details s where s.api_request_hk = h.api_request_hk)
         as detail_rows
from raw_vault.hub_api_request h
join raw_vault.sat_api_request_details d using (api_request_hk)
where h.api_request_bk = $1
"""
COST_SQL = """
select c.* from raw_vault.lnk_cost_event_api_request l
join raw_vault.hub_api_request h using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
where h.api_request_bk = $1
"""
ATTEMPTS_SQL = """
select a.* from raw_vault.sat_api_request_attempt a
join raw_vault.hub_api_request h using (api_request_hk)
where h.api_request_bk = $1 order by attempt_no
"""
CONTEXT_SQL = """
select l.* from raw_vault.lnk_api_request_context l
join raw_vault.hub_api_request h using (api_request_hk)
where h.api_request_bk = $1
"""


async def recorded(pool: asyncpg.Pool, request_id: str) -> dict[str, Any]:
    """The request's vault footprint, once the loader has landed it."""
    sql = f"select count(*) from raw_vault.hub_api_request where api_request_bk = '{request_id}'"
    assert await wait_for_rows(pool, sql, 1) == 1, f"{request_id} never reached the vault"
    request = await pool.fetchrow(REQUEST_SQL, request_id)
    assert request["hubs"] == 1 and request["links"] == 1 and request["detail_rows"] == 1
    cost = await pool.fetch(COST_SQL, request_id)
    attempts = await pool.fetch(ATTEMPTS_SQL, request_id)
    context = await pool.fetchrow(CONTEXT_SQL, request_id)
    return {"request": request, "cost": cost, "attempts": attempts, "context": context}


def sdk(gw: Gateway, **kwargs: Any) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0, **kwargs)


async def test_openai_sdk_chat_completion(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    client = sdk(gateway)
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What is a hub?"}],
        user="alice",
        metadata={"type": "docs_question", "tag.team": "platform"},
    )
    completion = raw.parse()
    request_id = raw.headers["x-request-id"]
    assert completion.choices[0].message.content
    assert completion.usage is not None and completion.usage.completion_tokens == 64

    vault = await recorded(vault_pool, request_id)
    req = vault["request"]
    assert req["endpoint"] == "/v1/chat/completions" and req["status"] == "success"
    assert req["request_type"] == "docs_question" and not req["stream"]
    assert req["input_tokens"] == completion.usage.prompt_tokens
    assert req["output_tokens"] == completion.usage.completion_tokens
    (cost,) = vault["cost"]
    assert isinstance(cost["provider_cost"], Decimal) and cost["is_priced"]
    assert cost["customer_cost"] == Decimal(raw.headers["x-onevault-customer-cost"])
    assert vault["context"]["end_user_hk"] != GHOST_HK
    assert len(vault["attempts"]) == 1 and vault["attempts"][0]["outcome"] == "success"


async def test_openai_sdk_stream_with_usage(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    client = sdk(gateway)
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Stream me a satellite."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, request_id = [], None, None
    async for chunk in stream:
        request_id = request_id or chunk.id.removeprefix("chatcmpl-")
        if chunk.choices and chunk.choices[0].delta.content:
            text.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert text and usage is not None and usage.completion_tokens == 64
    assert request_id is not None

    vault = await recorded(vault_pool, request_id)
    assert vault["request"]["stream"] and vault["request"]["output_tokens"] == usage.completion_tokens
    (cost,) = vault["cost"]
    # gpt-4o list price: 2.5 in / 10 out per million tokens, markup 20 %.
    expected = (Decimal(usage.prompt_tokens) * Decimal("2.5") + Decimal(usage.completion_tokens) * 10) / 10**6
    assert cost["provider_cost"] == expected
    assert cost["customer_cost"] == cost["provider_cost"] * Decimal("1.2")


async def test_onevault_api_non_streaming(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    body = {
        "prompt": "Summarise the ledger.",
        "model": "claude-3-5-haiku-latest",
        "type": "medical_analysis",
        "priority": "high",
        "user": "patient-portal",
        "max_tokens": 200,
        "tags": {"team": "care", "project": "triage", "cost_center": "CC-7", "env": "prod"},
    }
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"authorization": f"Bearer {gateway.key}"}
    ) as c:
        r = await c.post("/v1/ai/completions", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["provider"] == "anthropic" and out["model"] == "claude-3-5-haiku-latest"
    assert out["output"]["text"] and out["output"]["message"]["role"] == "assistant"
    assert out["route"]["reason"] == "requested model" and len(out["attempts"]) == 1
    cost = {
        k: Decimal(v) for k, v in out["cost"].items() if k in ("provider_cost", "markup", "customer_cost")
    }
    assert cost["customer_cost"] == cost["provider_cost"] + cost["markup"]

    vault = await recorded(vault_pool, out["id"])
    req = vault["request"]
    assert (req["request_type"], req["priority"], req["http_status"]) == ("medical_analysis", "high", 200)
    assert req["total_tokens"] == out["usage"]["total_tokens"]
    (row,) = vault["cost"]
    assert row["provider_cost"] == cost["provider_cost"] and row["markup_amount"] == cost["markup"]
    assert row["customer_cost"] == cost["customer_cost"] and row["markup_pct"] == Decimal("20")
    assert row["input_per_mtok"] == Decimal("0.8") and row["output_per_mtok"] == Decimal("4")
    assert row["price_source"].startswith("genai-prices")
    tags = dict(
        await vault_pool.fetch(
            "select t.tag_key, t.tag_value from raw_vault.sat_api_request_tags t "
            "join raw_vault.hub_api_request h using (api_request_hk) where h.api_request_bk = $1",
            out["id"],
        )
    )
    assert tags == body["tags"]
    price = await vault_pool.fetchrow(
        "select p.* from raw_vault.sat_model_price p join raw_vault.hub_model m using (model_hk) "
        "where m.model_bk = 'claude-3-5-haiku-latest'"
    )
    assert price is not None and price["output_per_mtok"] == Decimal("4")


def upstream_successes(metrics_text: str, provider: str, model: str) -> float:
    prefix = (
        "gen_ai_client_operation_duration_seconds_count{"
        f'error_type="",gen_ai_request_model="{model}",gen_ai_system="{provider}"}} '
    )
    return sum(
        float(line.removeprefix(prefix)) for line in metrics_text.splitlines() if line.startswith(prefix)
    )


async def test_onevault_api_streaming(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    operator = {"authorization": f"Bearer {admin_token(gateway.settings)}"}  # /metrics is the operator's
    async with httpx.AsyncClient(base_url=gateway.url, headers=operator) as m:
        before = upstream_successes((await m.get("/metrics")).text, "gemini", "gemini-1.5-flash")
    events = []
    async with (
        httpx.AsyncClient(base_url=gateway.url, headers={"authorization": f"Bearer {gateway.key}"}) as c,
        c.stream(
            "POST",
            "/v1/ai/completions",
            json={"prompt": "Count", "model": "gemini-1.5-flash", "stream": True},
        ) as r,
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(line.removeprefix("data: "))
    assert events[-1] == "[DONE]"
    final = orjson.loads(events[-2])
    deltas = [orjson.loads(e)["delta"] for e in events[:-2]]
    assert final["done"] and "".join(deltas)
    assert final["usage"]["output_tokens"] == 64 and Decimal(final["cost"]["customer_cost"]) > 0

    async with httpx.AsyncClient(base_url=gateway.url, headers=operator) as m:
        after = upstream_successes((await m.get("/metrics")).text, "gemini", "gemini-1.5-flash")
    assert after == before + 1  # streamed calls are timed like plain ones

    vault = await recorded(vault_pool, final["id"])
    assert vault["request"]["stream"] and vault["request"]["output_tokens"] == 64
    assert vault["cost"][0]["customer_cost"] == Decimal(final["cost"]["customer_cost"])


async def test_unknown_model_is_answered_and_flagged_unpriced_when_the_operator_allows_it(
    vault_dsn: str,
    vault_pool: asyncpg.Pool,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,
    tmp_path: Path,
    port_picker: Callable[[], int],
) -> None:
    """A route that accepts any model and ONEVAULT_ALLOW_UNPRICED=true: served at 0 and flagged
    (by default an unknown or unpriced model is refused: tests/security/test_money.py)."""
    key, _ = await issue_key(vault_pool)
    settings = gateway_settings(tmp_path, allow_unpriced=True)
    catalog = simulator_catalog(sim.url)
    catalog["providers"][0]["accept_any_model"] = True  # openai
    (tmp_path / "providers.json").write_text(json.dumps(catalog))
    config = GatewayConfig(settings, vault_dsn, redis_server.url, tmp_path / "providers.json")
    server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
    try:
        async with httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {key}"}) as c:
            r = await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-unreleased-9"})
            operator = {"authorization": f"Bearer {admin_token(settings)}"}
            metrics = (await c.get("/metrics", headers=operator)).text
        assert r.status_code == 200
        out = r.json()
        assert out["cost"]["priced"] is False
        assert 'onevault_unpriced_requests_total{model="gpt-unreleased-9",provider="openai"}' in metrics
        assert 'onevault_requests_total{endpoint="/v1/ai/completions",status_code="200"}' in metrics
        (row,) = (await recorded(vault_pool, out["id"]))["cost"]  # the gateway's loader lands it
        assert row["is_priced"] is False and row["input_per_mtok"] is None
    finally:
        await asyncio.to_thread(server.stop)


async def test_each_request_recorded_once_under_concurrency(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"authorization": f"Bearer {gateway.key}"}
    ) as c:
        responses = await asyncio.gather(
            *(
                c.post("/v1/ai/completions", json={"prompt": f"n{i}", "model": "gpt-4o-mini"})
                for i in range(60)
            )
        )
    ids = {r.json()["id"] for r in responses if r.status_code == 200}
    assert len(ids) == 60
    assert await wait_for_rows(vault_pool, REAL_REQUESTS, 60) == 60
    rows = await vault_pool.fetch(
        "select api_request_bk from raw_vault.hub_api_request where api_request_hk <> $1", GHOST_HK
    )
    stored = {r["api_request_bk"] for r in rows}
    assert stored == ids
    assert await vault_pool.fetchval("select count(*) from raw_vault.sat_cost_event_details") == 60
