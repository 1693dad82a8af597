"""Tier limits through the real gateway: a tier's default requests per minute and per hour
refuse, a customer's own setting lifts them, and a monthly token quota answers 429
quota_exceeded with when it resets (dbt_project/seeds/tiers.csv, docs/billing/plans.md)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import redis.asyncio as aioredis
from typer.testing import CliRunner

from gateway.crypto.keyring import admin_token
from gateway.enforcement.ratelimit import hour_key, month_key
from tests.gateway.e2e.conftest import Gateway, issue_key, run, wait_for_rows
from warehouse.embedded import RedisEndpoint
from warehouse.plans import tiers

BODY = {"prompt": "hi", "model": "gpt-4o-mini"}


def slug() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def client(gw: Gateway, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30)


def admin(gw: Gateway) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {admin_token(gw.settings)}", "x-onevault-actor": "ops-bot"}
    return httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30)


async def away_from_edge(window: int, margin: float) -> None:
    """Fixed windows: start where ``margin`` seconds of the window are still ahead."""
    if window - time.time() % window < margin:
        await asyncio.sleep(window - time.time() % window + 0.5)


async def until_allowed(c: httpx.AsyncClient, timeout: float = 10.0) -> httpx.Response:
    """A changed setting reaches every process within the principal cache's few seconds."""
    deadline = time.monotonic() + timeout
    while True:
        r = await c.post("/v1/ai/completions", json=BODY)
        if r.status_code != 429 or time.monotonic() > deadline:
            return r
        await asyncio.sleep(0.5)


async def test_the_tier_default_rpm_refuses_and_the_customer_setting_lifts_it(
    gateway: Gateway, vault_pool: asyncpg.Pool, redis_server: RedisEndpoint
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer, tier="basic")
    rpm = tiers()["basic"].rate_limit_rpm
    assert rpm == 60  # the seed's default for the tier
    await away_from_edge(60, 5)
    redis = aioredis.Redis.from_url(redis_server.url)
    try:  # the minute so far: all but two of the tier's requests used; the gateway counts the rest
        await redis.set(f"ov:rl:customer:{customer}:{int(time.time() // 60)}:req", rpm - 2, ex=120)
    finally:
        await redis.aclose()
    async with client(gateway, key) as c:
        ok = [await c.post("/v1/ai/completions", json=BODY) for _ in range(2)]
        refused = await c.post("/v1/ai/completions", json=BODY)
        assert {r.status_code for r in ok} == {200} and ok[-1].headers[
            "x-ratelimit-remaining-requests"
        ] == "0"
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["x-ratelimit-limit-requests"] == str(rpm)

        async with admin(gateway) as a:
            changed = await a.patch(f"/admin/v1/customers/{customer}", json={"rate_limit_rpm": 500})
        assert changed.status_code == 200, changed.text
        lifted = await until_allowed(c)
    assert lifted.status_code == 200, lifted.text
    row = await vault_pool.fetchrow(
        "select s.rate_limit_rpm, s.changed_by from raw_vault.sat_customer_config s "
        "join raw_vault.hub_customer h using (customer_hk) where h.customer_bk = $1 "
        "order by s.load_dts desc limit 1",
        customer,
    )
    assert (row["rate_limit_rpm"], row["changed_by"]) == (500, "admin-token:ops-bot")  # insert-only, with who


async def test_the_tier_default_requests_per_hour_refuses(
    gateway: Gateway, vault_pool: asyncpg.Pool, redis_server: RedisEndpoint
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer, tier="basic")
    rph = tiers()["basic"].rate_limit_rph
    assert rph == 1000
    await away_from_edge(3600, 30)
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        # The hour so far: all but one of the tier's requests used (sending a thousand would only
        # be slower), then the gateway counts the rest itself.
        await redis.set(hour_key(f"customer:{customer}", time.time()), rph - 1, ex=3600)
        async with client(gateway, key) as c:
            last = await c.post("/v1/ai/completions", json=BODY)
            refused = await c.post("/v1/ai/completions", json=BODY)
            assert last.status_code == 200, last.text
            assert refused.status_code == 429
            error = refused.json()["error"]
            assert (error["code"], error["details"]["unit"], error["details"]["limit"]) == (
                "rate_limited",
                "requests/hour",
                rph,
            )
            assert refused.headers["x-ratelimit-limit-requests-hour"] == str(rph)
            assert 0 < int(refused.headers["retry-after"]) <= 3600
            assert int(await redis.get(hour_key(f"customer:{customer}", time.time()))) == rph

            async with admin(gateway) as a:
                changed = await a.patch(f"/admin/v1/customers/{customer}", json={"rate_limit_rph": 5000})
            assert changed.status_code == 200 and changed.json()["rate_limit_rph"] == 5000
            assert (await until_allowed(c)).status_code == 200
    finally:
        await redis.aclose()


async def test_a_monthly_token_quota_answers_quota_exceeded_until_the_first(
    gateway: Gateway, vault_pool: asyncpg.Pool, redis_server: RedisEndpoint
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer, monthly_token_quota=100)
    await away_from_edge(60, 10)
    before = gateway.sim.simulator.stats.snapshot()["total"]
    async with client(gateway, key) as c:
        first = await c.post("/v1/ai/completions", json=BODY)
        second = await c.post("/v1/ai/completions", json=BODY)
        refused = await c.post("/v1/ai/completions", json=BODY)
    used = sum(r.json()["usage"]["total_tokens"] for r in (first, second))
    assert (first.status_code, second.status_code) == (200, 200)
    assert used >= 100 > first.json()["usage"]["total_tokens"]  # counted after each answer
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    now = datetime.now(UTC)
    reset = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    assert error["code"] == "quota_exceeded"
    assert error["details"] == {
        "scope": f"customer:{customer}",
        "limit": 100,
        "used": used,
        "unit": "tokens/month",
        "resets_at": reset.isoformat().replace("+00:00", "Z"),
    }
    assert abs(int(refused.headers["retry-after"]) - (reset - now).total_seconds()) < 60
    assert gateway.sim.simulator.stats.snapshot()["total"] == before + 2  # the refused one never left
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        assert int(await redis.get(month_key(f"customer:{customer}", time.time()))) == used
    finally:
        await redis.aclose()
    sql = (
        "select count(*) from raw_vault.sat_api_request_details d join raw_vault.lnk_api_request_context x "
        "using (api_request_hk) join raw_vault.hub_customer h on h.customer_hk = x.customer_hk "
        f"where h.customer_bk = '{customer}' and d.http_status = 429"
    )
    assert await wait_for_rows(vault_pool, sql, 1) == 1  # the refusal is recorded


async def test_the_tier_default_quota_and_an_enterprise_customer_without_counters(
    gateway: Gateway, vault_pool: asyncpg.Pool, redis_server: RedisEndpoint
) -> None:
    basic, enterprise = slug(), slug()
    basic_key, _ = await issue_key(vault_pool, basic, tier="basic")
    enterprise_key, _ = await issue_key(vault_pool, enterprise, tier="enterprise")
    quota = tiers()["basic"].monthly_token_quota
    assert quota and tiers()["enterprise"].monthly_token_quota is None
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        await redis.set(month_key(f"customer:{basic}", time.time()), quota)
        async with client(gateway, basic_key) as c:
            refused = await c.post("/v1/ai/completions", json=BODY)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "quota_exceeded"
        assert refused.json()["error"]["details"]["limit"] == quota

        async with client(gateway, enterprise_key) as c:
            served = [await c.post("/v1/ai/completions", json=BODY) for _ in range(3)]
        assert [r.status_code for r in served] == [200, 200, 200]
        # No limits at all: admission keeps no counter for it (and makes no Redis round trip).
        assert [k async for k in redis.scan_iter(f"ov:rl:customer:{enterprise}:*")] == []
        assert "x-ratelimit-remaining-requests" not in served[0].headers
    finally:
        await redis.aclose()


async def test_pricing_settings_are_checked(gateway: Gateway) -> None:
    async with admin(gateway) as a:
        for body, field in (
            ({"markup_plan": "platinum"}, "markup_plan"),
            ({"savings_share_pct": "150"}, "savings_share_pct"),
            ({"monthly_token_quota": -1}, "monthly_token_quota"),
            ({"rate_limit_rph": -5}, "rate_limit_rph"),
            ({"tier": "gold"}, "tier"),
        ):
            r = await a.patch("/admin/v1/customers/acme", json=body)
            assert r.status_code == 422, (body, r.text)
            assert field in r.text, (body, r.text)
        ok = await a.patch(
            "/admin/v1/customers/acme", json={"markup_plan": "volume", "savings_share_pct": "20"}
        )
        assert ok.status_code == 200, ok.text
        assert (ok.json()["markup_plan"], ok.json()["savings_share_pct"]) == ("volume", "20")
        cleared = await a.patch("/admin/v1/customers/acme", json={"markup_plan": "none"})
        assert cleared.status_code == 200 and cleared.json()["markup_plan"] is None


async def test_pricing_settings_from_the_cli(gateway: Gateway, cli: CliRunner) -> None:
    done = await run(
        cli,
        *("customers", "update", "acme", "--rph", "5000", "--monthly-token-quota", "1000000"),
        *("--savings-share", "12.5", "--markup-plan", "scale", "--json"),
    )
    assert done.exit_code == 0, done.output
    shown = json.loads(done.output)
    assert (shown["rate_limit_rph"], shown["monthly_token_quota"]) == (5000, 1000000)
    assert (shown["savings_share_pct"], shown["markup_plan"]) == ("12.5", "scale")
    refused = await run(cli, "customers", "update", "acme", "--markup-plan", "gold")
    assert refused.exit_code == 1 and "markup_plan must be one of volume, scale" in refused.output
