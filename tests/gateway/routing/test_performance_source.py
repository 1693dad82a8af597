"""Where ``fastest``/``most_available`` get their numbers: the mart's fresh windows (the
contract's ``marts.provider_performance_5m``), else the gateway's own Redis window."""

from __future__ import annotations

import uuid

import asyncpg
import redis.asyncio as aioredis

from gateway.routing.performance import OwnWindow, PerformanceSource
from tests.dbt_contracts import contract_ddl

MART = contract_ddl("provider_performance_5m")


async def test_mart_first_own_window_for_the_rest_stale_windows_ignored(
    vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    model = f"m-{uuid.uuid4().hex[:6]}"  # own-window counters live in the shared Redis
    window = OwnWindow(redis_client)
    source = PerformanceSource(vault_pool, window, cache_s=0)
    for ok, ms in ((True, 100.0), (True, 300.0), (False, 0.0)):
        await window.observe("own", model, ok, ms)
    assert (await source.stats([("own", model)]))[("own", model)].latency_ms == 200.0  # no mart yet

    await vault_pool.execute(MART)
    await vault_pool.execute(
        "insert into marts.provider_performance_5m (window_start, window_end, provider, model, "
        "platform_attempts, platform_successes, platform_p50_latency_ms) values "
        "(now() - interval '5 minutes', now(), 'own', $1, 10, 9, 50),"
        "(now() - interval '10 minutes', now() - interval '5 minutes', 'own', $1, 10, 10, 150),"
        "(now() - interval '2 hours', now() - interval '115 minutes', 'stale', $1, 10, 1, 5)",
        model,
    )
    stats = await source.stats([("own", model), ("stale", model)])
    own = stats[("own", model)]
    assert (own.source, own.attempts, own.successes) == ("mart", 20, 19)
    assert round(own.latency_ms, 3) == round((50 * 9 + 150 * 10) / 19, 3)  # success-weighted p50
    assert ("stale", model) not in stats  # a stale mart window is not evidence


async def test_routing_reads_only_the_platform_keys_tries_from_the_mart(
    vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    """A tenant's own key failing (counted in attempts, not in platform_*) cannot make the
    platform route look unavailable to everyone; a window of own-key tries only is no evidence."""
    model = f"m-{uuid.uuid4().hex[:6]}"
    source = PerformanceSource(vault_pool, OwnWindow(redis_client), cache_s=0)
    await vault_pool.execute(MART)
    await vault_pool.execute(
        "insert into marts.provider_performance_5m (window_start, window_end, provider, model, attempts, "
        "successes, p50_latency_ms, platform_attempts, platform_successes, platform_p50_latency_ms) values "
        "(now() - interval '5 minutes', now(), 'openai', $1, 100, 10, 900, 10, 10, 120),"
        "(now() - interval '5 minutes', now(), 'gemini', $1, 50, 0, null, 0, 0, null)",
        model,
    )
    stats = await source.stats([("openai", model), ("gemini", model)])
    assert (stats[("openai", model)].attempts, stats[("openai", model)].successes) == (10, 10)
    assert stats[("openai", model)].latency_ms == 120
    assert ("gemini", model) not in stats
