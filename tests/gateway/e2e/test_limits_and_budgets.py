"""Rate limits and budgets hold across concurrent requests, and refusals are recorded."""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

import asyncpg
import httpx
import redis.asyncio as aioredis

from gateway.admin.keys import create_gateway_key
from gateway.auth.principal import Limits
from tests.gateway.e2e.conftest import Gateway, issue_key, wait_for_rows


def slug() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def away_from_minute_edge() -> None:
    """Fixed one-minute windows: don't let a test straddle two of them."""
    if time.time() % 60 > 50:
        await asyncio.sleep(61 - time.time() % 60)


def client(gw: Gateway, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30)


async def test_requests_per_minute_per_customer(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    key, _ = await issue_key(vault_pool, slug(), rate_limit_rpm=3)
    await away_from_minute_edge()
    async with client(gateway, key) as c:
        ok = [
            await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o-mini"})
            for _ in range(3)
        ]
        refused = await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o-mini"})
    assert [r.status_code for r in ok] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in ok] == ["2", "1", "0"]
    assert refused.status_code == 429
    body = refused.json()["error"]
    assert body["code"] == "rate_limited" and body["details"]["unit"] == "requests/min"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-limit-requests"] == "3"
    assert gateway.sim.simulator.stats.snapshot()["total"] == 3  # the refused one never left
    sql = "select count(*) from raw_vault.sat_api_request_details where http_status = 429"
    assert await wait_for_rows(vault_pool, sql, 1) == 1


async def test_tokens_per_minute_per_key(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    customer = slug()
    await issue_key(vault_pool, customer)
    issued = await create_gateway_key(vault_pool, customer, changed_by="t", limits=Limits(tpm=100))
    await away_from_minute_edge()
    async with client(gateway, issued.key) as c:
        statuses = []
        for _ in range(3):  # each answer is ~67 tokens: the third finds the minute's 100 used up
            r = await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o-mini"})
            statuses.append(r.status_code)
    assert statuses == [200, 200, 429]
    assert r.json()["error"]["details"]["unit"] == "tokens/min"


async def test_concurrent_requests_cannot_overspend_a_budget(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer, budget_daily=Decimal("0.01"))
    # gpt-4o at 2.5 / 10 USD per million tokens, +20 %: ~0.001 USD reserved per request, so
    # the budget holds about ten reservations at a time.
    body = {"prompt": "hello", "model": "gpt-4o", "max_tokens": 80}
    async with client(gateway, key) as c:
        responses = await asyncio.gather(*(c.post("/v1/ai/completions", json=body) for _ in range(100)))
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 402]
    assert len(ok) + len(refused) == 100
    assert 5 <= len(ok) <= 13, len(ok)
    assert {r.json()["error"]["code"] for r in refused} == {"budget_exceeded"}
    spent = sum(Decimal(r.json()["cost"]["customer_cost"]) for r in ok)
    largest_reservation = max(Decimal(r.json()["error"]["details"]["estimated_max_cost"]) for r in refused)
    assert spent <= Decimal("0.01") + largest_reservation
    # The vault agrees with what the clients were told, to the last digit.
    sql = (
        "select count(*) from raw_vault.sat_cost_event_details c "
        "join raw_vault.lnk_cost_event_api_request l using (cost_event_hk) "
        "join raw_vault.lnk_api_request_context x using (api_request_hk) "
        "join raw_vault.hub_customer h using (customer_hk) where h.customer_bk = '" + customer + "'"
    )
    assert await wait_for_rows(vault_pool, sql, len(ok)) == len(ok)
    stored = await vault_pool.fetchval(sql.replace("count(*)", "sum(c.customer_cost)"))
    assert stored == spent


async def test_budget_state_lost_in_redis_is_rebuilt_from_the_vault(
    gateway: Gateway, vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer, budget_daily=Decimal("5"))
    body = {"prompt": "hello", "model": "gpt-4o", "max_tokens": 80}
    async with client(gateway, key) as c:
        first = [await c.post("/v1/ai/completions", json=body) for _ in range(3)]
        spent = sum(Decimal(r.json()["cost"]["customer_cost"]) for r in first)
        sql = (
            "select count(*) from raw_vault.lnk_api_request_context x join raw_vault.hub_customer h "
            f"using (customer_hk) where h.customer_bk = '{customer}'"
        )
        assert await wait_for_rows(vault_pool, sql, 3) == 3
        await asyncio.sleep(0.3)  # the cost rows land in the same load as the context links
        budget_keys = [k async for k in redis_client.scan_iter(f"ov:budget:customer:{customer}:*")]
        assert budget_keys
        await redis_client.delete(*budget_keys)  # Redis lost the budget state
        after = await c.post("/v1/ai/completions", json=body)
    assert after.status_code == 200
    total = spent + Decimal(after.json()["cost"]["customer_cost"])
    (stored,) = budget_keys
    micro = int(await redis_client.hget(stored, "spent"))
    assert abs(Decimal(micro) / 1_000_000 - total) <= Decimal("0.000004")  # micro-dollar rounding
