"""The breaker's half-open state lets exactly one probe through, across processes."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from gateway.enforcement.breaker import CircuitBreaker


def breakers(redis: aioredis.Redis, n: int) -> list[CircuitBreaker]:
    """``n`` breakers sharing Redis, as ``n`` gateway processes would."""
    return [CircuitBreaker(redis, threshold=2, window_s=30, cooldown_s=0.3, probe_ttl_s=5) for _ in range(n)]


async def test_half_open_lets_exactly_one_probe_through(redis_client: aioredis.Redis) -> None:
    model = f"m-{uuid.uuid4().hex}"  # breaker state is per pair: a pair of our own
    first, *others = breakers(redis_client, 20)
    assert await first.failure("p", model, "server_error") is False
    assert await first.failure("p", model, "server_error") is True  # opened
    assert not any(await asyncio.gather(*(b.allows("p", model) for b in others)))

    await asyncio.sleep(0.35)  # cooldown over: half-open
    others = breakers(redis_client, 19)  # (each process caches "open" for up to a second)
    verdicts = await asyncio.gather(*(b.allows("p", model) for b in others))
    assert sum(verdicts) == 1  # exactly one probe among 19 concurrent requests
    probe = others[verdicts.index(True)]
    assert not await breakers(redis_client, 1)[0].allows("p", model)  # a latecomer waits too

    await probe.success("p", model)  # the probe's success closes the circuit for everyone
    assert all(await asyncio.gather(*(b.allows("p", model) for b in breakers(redis_client, 5))))


async def test_a_failed_probe_reopens_for_another_cooldown(redis_client: aioredis.Redis) -> None:
    model = f"m-{uuid.uuid4().hex}"
    b1, b2 = breakers(redis_client, 2)
    await b1.failure("p", model, "timeout")
    await b1.failure("p", model, "timeout")
    await asyncio.sleep(0.35)
    assert await b2.allows("p", model)  # the probe
    assert await b2.failure("p", model, "server_error") is True  # one failure re-opens
    fresh = breakers(redis_client, 1)[0]
    assert not await fresh.allows("p", model)
    await asyncio.sleep(0.35)
    assert await breakers(redis_client, 1)[0].allows("p", model)  # next cooldown, next probe
    assert await b1.failure("p", model, "bad_request") is False  # client errors never count
