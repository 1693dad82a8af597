"""A rotated key stops working when its grace period ends — not up to the auth cache's TTL
(300 s) later: the cached principal carries ``grace_until`` and every request checks it."""

from __future__ import annotations

import asyncio
import time

import httpx
import redis.asyncio as aioredis

from gateway.crypto.keyring import admin_token
from tests.gateway.e2e.conftest import Gateway
from tests.security.authentication.kit import cache_key

GRACE_S = 2.0
BODY = {"prompt": "still here?", "model": "gpt-4o-mini", "max_tokens": 8}


async def test_a_key_past_its_grace_is_refused_while_its_principal_is_cached(
    gateway: Gateway, redis_client: aioredis.Redis
) -> None:
    admin = {"authorization": f"Bearer {admin_token(gateway.settings)}"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as c:
        rotated = await c.post(
            f"/admin/v1/keys/{gateway.key_id}/rotate", json={"grace_hours": GRACE_S / 3600}, headers=admin
        )
        assert rotated.status_code == 200, rotated.text
        grace_ends = time.monotonic() + GRACE_S
        old = {"authorization": f"Bearer {gateway.key}"}
        within = await c.post("/v1/ai/completions", json=BODY, headers=old)
        assert within.status_code == 200, "the old key works during its grace period"
        assert await redis_client.exists(cache_key(gateway.key)), "its principal is cached"

        await asyncio.sleep(max(0.0, grace_ends - time.monotonic()) + 0.3)
        after = await c.post("/v1/ai/completions", json=BODY, headers=old)
        assert await redis_client.exists(cache_key(gateway.key)), "still cached when it is refused"
        assert after.status_code == 401, "a rotated key kept working past its grace period"
        successor = {"authorization": f"Bearer {rotated.json()['key']}"}
        assert (await c.post("/v1/ai/completions", json=BODY, headers=successor)).status_code == 200
