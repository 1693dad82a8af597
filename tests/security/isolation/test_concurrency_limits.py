"""One tenant cannot hold every upstream call: a customer (and each of its keys) has a limit of
requests in flight, shared by every gateway process; past it the gateway answers 429
``concurrency_limit_exceeded`` with ``Retry-After`` at once, other tenants are untouched, a stream
holds its slot until it ends, and slots come back when requests end — or, for a process that
died holding them, when their lease runs out."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import redis.asyncio as aioredis

from gateway.auth.principal import Limits, Principal
from gateway.enforcement.concurrency import LeaseBook
from gateway.enforcement.ratelimit import RateLimiter
from gateway.simulator import SimulatorServer
from gateway.simulator.faults import FaultMatch, FaultSpec
from tests.gateway.e2e.conftest import issue_key
from tests.security.conftest import StartGateway

SLOW = "gpt-4o"  # the simulator stalls this model's answers
FAST = "gpt-4o-mini"


def client(url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30)


async def ask(c: httpx.AsyncClient, model: str, **extra: object) -> httpx.Response:
    return await c.post("/v1/ai/completions", json={"prompt": "hello", "model": model, **extra})


async def reached_provider(sim: SimulatorServer, model: str, calls: int) -> None:
    """Wait until the simulator has received ``calls`` calls for ``model``."""
    for _ in range(200):
        if sim.simulator.stats.snapshot()["by_model"].get(model, 0) >= calls:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{model} never received {calls} calls")


def refused(r: httpx.Response, scope: str) -> None:
    assert r.status_code == 429, r.text
    error = r.json()["error"]
    assert error["code"] == "concurrency_limit_exceeded" and error["details"]["scope"] == scope, error
    assert int(r.headers["retry-after"]) >= 1


async def test_past_its_limit_a_customer_is_refused_at_once_and_others_are_served(
    start_gateway: StartGateway, vault_pool: asyncpg.Pool, sim: SimulatorServer
) -> None:
    greedy, _ = await issue_key(vault_pool, "greedy", max_concurrent=2)  # the customer's own setting
    calm, _ = await issue_key(vault_pool, "calm")  # the gateway's default
    gw = await start_gateway()
    sim.simulator.faults.add(FaultSpec(kind="latency", match=FaultMatch(model=SLOW), latency_ms=3000))

    async with client(gw.url, greedy) as g, client(gw.url, calm) as c:
        held = [asyncio.create_task(ask(g, SLOW)) for _ in range(2)]
        await reached_provider(sim, SLOW, 2)  # both hold their slots, waiting on the provider
        started = asyncio.get_running_loop().time()
        refused(await ask(g, FAST), "customer:greedy")
        assert asyncio.get_running_loop().time() - started < 1.0, "a refusal must not wait for a slot"
        assert (await ask(c, FAST)).status_code == 200  # another tenant is not affected
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert (await ask(g, FAST)).status_code == 200  # the slots came back


async def test_a_stream_holds_its_slot_until_it_ends(
    start_gateway: StartGateway, vault_pool: asyncpg.Pool, sim: SimulatorServer
) -> None:
    key, _ = await issue_key(vault_pool, "streamer", max_concurrent=1)
    gw = await start_gateway()
    sim.simulator.config.stream_chunk_delay_ms = 100  # 20 chunks: a stream of about two seconds
    sim.simulator.config.output_tokens = 20

    async with client(gw.url, key) as c:
        body = {"prompt": "hello", "model": FAST, "stream": True}
        async with c.stream("POST", "/v1/ai/completions", json=body) as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            assert await anext(lines)  # the stream has begun
            refused(await ask(c, FAST), "customer:streamer")
            async for _ in lines:  # read it to its end
                pass
        assert (await ask(c, FAST)).status_code == 200


def principal(customer: str, key_id: str, *, per_key: int | None = None) -> Principal:
    return Principal(
        customer, key_id, key_id[:8], None, None, None, Limits(concurrent=2), Limits(concurrent=per_key)
    )


async def test_slots_are_per_customer_and_per_key_and_a_dead_processs_expire(
    redis_client: aioredis.Redis,
) -> None:
    # Two "processes" (two limiters) on one Redis; the first dies holding its slots: it never
    # gives them back and never renews them.
    dead = RateLimiter(redis_client, leases=LeaseBook(redis_client, lease_s=1.0))
    alive = RateLimiter(redis_client, leases=LeaseBook(redis_client, lease_s=1.0))
    a1, a2 = principal("acme", "gk_a1", per_key=1), principal("acme", "gk_a2", per_key=1)
    held = [await dead.admit(a1), await dead.admit(a2)]  # one per key, two for the customer
    assert all(v.allowed and v.lease is not None for v in held)
    second = await alive.admit(a1)
    assert (second.allowed, second.kind, second.scope) == (False, "concurrent", "customer:acme")
    other = await alive.admit(principal("globex", "gk_b1"))
    assert other.allowed, "another customer's slots are its own"
    await alive.finish(principal("globex", "gk_b1"), 0, other.lease)

    await asyncio.sleep(1.2)  # the dead process's leases run out
    again = await alive.admit(a1)
    assert again.allowed
    assert (await alive.admit(a1)).scope == "key:gk_a1"  # the key's own limit of one
    await alive.finish(a1, 0, again.lease)
    assert (await alive.admit(a1)).allowed  # given back: free at once
    assert len(held) == 2  # the dead process's leases lived all along: they expired, not freed


async def test_the_gateway_default_is_held_per_process_without_a_redis_round_trip(
    redis_client: aioredis.Redis,
) -> None:
    # A customer that set nothing gets the gateway default, which guards this process's own
    # upstream pool: counted here, so the plain request pays no extra Redis round trip.
    limiter = RateLimiter(redis_client, per_customer=2)
    who = principal("quiet", "gk_q1")
    who = Principal(who.customer, who.key_id, who.key_prefix, None, None, None, Limits(), Limits())

    async def scripts_run() -> int:
        stats = await redis_client.info("commandstats")
        return sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_evalsha"))

    before = await scripts_run()
    held = [await limiter.admit(who), await limiter.admit(who)]
    assert all(v.allowed and v.lease is not None and not v.lease.keys for v in held)
    third = await limiter.admit(who)
    assert (third.allowed, third.kind, third.scope, third.limit) == (False, "concurrent", "customer:quiet", 2)
    await limiter.finish(who, 0, held[0].lease)
    again = await limiter.admit(who)
    assert again.allowed, "a slot given back is free at once"
    del again  # never settled: its finalizer frees the slot
    await asyncio.sleep(0)
    assert (await limiter.admit(who)).allowed
    assert await scripts_run() == before, "no admission script for a customer without own limits"
