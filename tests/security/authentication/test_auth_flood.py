"""A flood of well-formed but unknown keys: past the per-address limit it is refused with 429
(before any vault lookup), other addresses are unaffected, a valid cached key from the flooding
address still works, and refused keys leave nothing in Redis (so they cannot evict valid keys)."""

from __future__ import annotations

import asyncio

import httpx
import redis.asyncio as aioredis

from tests.gateway.e2e.conftest import Gateway
from tests.security.authentication.kit import (
    cache_key,
    clear_of_minute_boundary,
    from_address,
    new_address,
    random_key,
)

BODY = {"prompt": "let me in", "model": "gpt-4o-mini", "max_tokens": 8}
LIMIT = 60  # ONEVAULT_AUTH_FAILURES_PER_MINUTE's default


async def test_failed_authentications_are_throttled_per_address(
    gateway: Gateway, redis_client: aioredis.Redis
) -> None:
    attacker, bystander = new_address(), new_address()
    flood = [random_key() for _ in range(LIMIT)]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as c:

        async def call(address: str, key: str) -> httpx.Response:
            return await c.post("/v1/ai/completions", json=BODY, headers=from_address(address, key))

        assert (await call(bystander, gateway.key)).status_code == 200  # the valid key, now cached
        await clear_of_minute_boundary()
        statuses = [r.status_code for r in await asyncio.gather(*(call(attacker, k) for k in flood))]
        assert statuses == [401] * LIMIT
        throttled = await call(attacker, random_key())
        assert throttled.status_code == 429, "failed authentications are not throttled"
        assert throttled.json()["error"]["code"] == "auth_throttled"
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert (await call(bystander, random_key())).status_code == 401, "another address is not throttled"
        assert (await call(attacker, gateway.key)).status_code == 200, "a cached valid key still works"

    left = [k for k in flood if await redis_client.exists(cache_key(k))]
    assert left == [], f"{len(left)} refused keys were cached in Redis (a flood evicts valid entries)"
