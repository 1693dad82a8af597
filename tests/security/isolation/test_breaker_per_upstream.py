"""A tenant cannot open the platform's circuit: failures on a customer's own provider key (here its
own base URL, which refuses connections) trip that key's circuit only, and never count in the
platform route's performance window — another tenant on ``openai/gpt-4o-mini`` is still served
by openai, whose numbers show no failure."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import httpx
import redis.asyncio as aioredis

from gateway.admin.provider_keys import add_provider_key
from gateway.crypto.keyring import keyring_from
from gateway.egress.config import egress_policy
from tests.gateway.e2e.conftest import issue_key
from tests.security.conftest import StartGateway

MODEL = "gpt-4o-mini"  # openai first, azure_openai its failover (gateway/cli/up.py)


def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused, a 'connection' failure."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def ask(url: str, key: str) -> dict:
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
        r = await c.post("/v1/ai/completions", json={"prompt": "hello", "model": MODEL})
    assert r.status_code == 200, r.text
    return r.json()


async def test_an_own_keys_failures_never_open_the_platform_circuit(
    start_gateway: StartGateway, vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    gw = await start_gateway(egress_allow="127.0.0.1")  # the own base URL is on loopback
    attacker, _ = await issue_key(vault_pool, "mallory")
    victim, _ = await issue_key(vault_pool, "globex")
    await add_provider_key(
        vault_pool,
        keyring_from(gw.settings),
        "mallory",
        "openai",
        "sk-own-key",
        api_style="openai",
        base_url=f"http://127.0.0.1:{closed_port()}/v1",
        changed_by="test",
        egress=egress_policy(gw.settings),
    )

    answers = [await ask(gw.url, attacker) for _ in range(6)]
    first, last = answers[0], answers[-1]
    assert first["provider"] == "azure_openai" and first["attempts"][0]["provider"] == "openai"
    assert first["attempts"][0]["outcome"] == "error"
    # Its own circuit opened: the own key is no longer even tried.
    assert [a["provider"] for a in last["attempts"]] == ["azure_openai"], last["attempts"]

    served = await ask(gw.url, victim)
    assert served["provider"] == "openai", served["attempts"]  # the platform route is closed
    assert [a["outcome"] for a in served["attempts"]] == ["success"]

    await asyncio.sleep(1.5)  # the window flushes to Redis once a second
    platform = redis_client.scan_iter(f"ov:perf:openai:{MODEL}:*")  # not ov:perf:openai~<key>:...
    counts = [await redis_client.hgetall(k) async for k in platform]
    attempts = sum(int(c.get(b"n", 0)) for c in counts)
    successes = sum(int(c.get(b"ok", 0)) for c in counts)
    assert attempts == successes == 1, "the platform's window counted the tenant's own-key failures"
