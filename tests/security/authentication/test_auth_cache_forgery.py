"""Whoever can write to Redis must not become a tenant: a principal written straight into the
auth cache (``ov:auth:*``), or a real one copied under another key's hash, is rejected and the
vault decides (401 for a key it does not know)."""

from __future__ import annotations

import httpx
import orjson
import redis.asyncio as aioredis

from tests.gateway.e2e.conftest import Gateway
from tests.security.authentication.kit import cache_key, random_key

BODY = {"prompt": "who am I?", "model": "gpt-4o-mini", "max_tokens": 8}


def forged_principal(customer: str) -> bytes:
    """What an unsealed cache entry looked like: any customer, no limits, no budgets."""
    no_limits = {"rpm": None, "tpm": None, "budget_daily": None, "budget_monthly": None}
    return orjson.dumps(
        {
            "customer": customer,
            "key_id": "forged000000",
            "key_prefix": "ov_forged000000",
            "markup_pct": "0",
            "allowed_models": None,
            "expires_at": None,
            "customer_limits": no_limits,
            "key_limits": no_limits,
            "compliance_level": "none",
        }
    )


async def complete(gw: Gateway, key: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as c:
        return await c.post("/v1/ai/completions", json=BODY, headers={"authorization": f"Bearer {key}"})


async def test_a_principal_forged_into_redis_is_not_served(
    gateway: Gateway, redis_client: aioredis.Redis
) -> None:
    intruder = random_key()
    await redis_client.set(cache_key(intruder), forged_principal(gateway.customer), ex=300)
    await redis_client.set(cache_key(random_key() + "x"), b"-")  # noise: unrelated entries stay
    refused = await complete(gateway, intruder)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert not await redis_client.exists(cache_key(intruder)), "the forged entry should be dropped"
    assert (await complete(gateway, gateway.key)).status_code == 200


async def test_a_real_principal_copied_under_another_key_is_not_served(
    gateway: Gateway,
    redis_client: aioredis.Redis,
) -> None:
    assert (await complete(gateway, gateway.key)).status_code == 200  # its principal is now cached
    genuine = await redis_client.get(cache_key(gateway.key))
    assert genuine is not None
    intruder = random_key()
    await redis_client.set(cache_key(intruder), genuine, ex=300)
    refused = await complete(gateway, intruder)
    assert refused.status_code == 401, refused.text
    assert (await complete(gateway, gateway.key)).status_code == 200
