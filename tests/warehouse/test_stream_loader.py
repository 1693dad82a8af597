"""The stream loader: at-least-once from Redis into the vault, exactly-once in effect."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import redis.asyncio as aioredis

from warehouse.stream_loader import DEAD_LETTER_SUFFIX, StreamLoader
from warehouse.synthetic import synthetic_events

STREAM = "test:events"


async def _requests(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("select count(*) - 1 from raw_vault.hub_api_request")


async def test_drains_the_stream_into_the_vault(
    vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    for ev in synthetic_events(120, seed=11):
        await redis_client.xadd(STREAM, {"event": ev.to_json()})
    loader = StreamLoader(redis_client, vault_pool, stream=STREAM, batch_size=50)
    assert await loader.drain_all() == 120
    assert await _requests(vault_pool) == 120
    assert await redis_client.xlen(STREAM) == 0
    assert await loader.lag_seconds() == 0.0


async def test_redelivery_is_harmless(vault_pool: asyncpg.Pool, redis_client: aioredis.Redis) -> None:
    events = list(synthetic_events(30, seed=12))
    for ev in events + events[:10]:  # the same events twice, e.g. a spool replay after a Redis blip
        await redis_client.xadd(STREAM, {"event": ev.to_json()})
    await StreamLoader(redis_client, vault_pool, stream=STREAM).drain_all()
    assert await _requests(vault_pool) == 30
    assert await vault_pool.fetchval("select count(*) from raw_vault.sat_cost_event_details") == 30


async def test_events_wait_while_postgres_is_unreachable(
    vault_pool: asyncpg.Pool, vault_dsn: str, redis_client: aioredis.Redis
) -> None:
    for ev in synthetic_events(40, seed=13):
        await redis_client.xadd(STREAM, {"event": ev.to_json()})
    broken = await asyncpg.create_pool(vault_dsn, min_size=0, max_size=1)
    await broken.close()  # every acquire now fails like an unreachable server
    failing = StreamLoader(redis_client, broken, stream=STREAM, consumer="a")
    await failing.ensure_group()
    try:
        await failing.drain_once()
    except asyncpg.InterfaceError:
        pass
    else:
        raise AssertionError("loading through a closed pool must fail")
    assert await redis_client.xlen(STREAM) == 40  # nothing acknowledged, nothing lost
    healthy = StreamLoader(redis_client, vault_pool, stream=STREAM, consumer="b")
    assert await healthy.drain_all() == 40  # claims what consumer "a" left pending
    assert await _requests(vault_pool) == 40


async def test_poison_entries_are_dead_lettered(
    vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    good = next(synthetic_events(1, seed=14))
    await redis_client.xadd(STREAM, {"event": b"{not json"})
    await redis_client.xadd(STREAM, {"event": good.to_json()})
    loader = StreamLoader(redis_client, vault_pool, stream=STREAM)
    await loader.drain_all()
    assert await _requests(vault_pool) == 1
    assert await redis_client.xlen(STREAM + DEAD_LETTER_SUFFIX) == 1
    assert loader.stats.dead_lettered == 1


async def test_a_backlog_is_loaded_in_pipelined_batches(
    vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    for ev in synthetic_events(95, seed=15):
        await redis_client.xadd(STREAM, {"event": ev.to_json()})
    await redis_client.xadd(STREAM, {"event": b"{not json"})  # a poison entry mid-backlog
    loader = StreamLoader(redis_client, vault_pool, stream=STREAM, batch_size=20)
    assert await loader.drain_all() == 96
    assert (loader.stats.batches, loader.stats.loaded_events, loader.stats.dead_lettered) == (5, 95, 1)
    assert await _requests(vault_pool) == 95
    assert await redis_client.xlen(STREAM) == 0
    assert await redis_client.xlen(STREAM + DEAD_LETTER_SUFFIX) == 1


async def test_a_failed_load_leaves_the_batch_read_ahead_pending(
    vault_pool: asyncpg.Pool, vault_dsn: str, redis_client: aioredis.Redis
) -> None:
    for ev in synthetic_events(40, seed=16):
        await redis_client.xadd(STREAM, {"event": ev.to_json()})
    broken = await asyncpg.create_pool(vault_dsn, min_size=0, max_size=1)
    await broken.close()
    failing = StreamLoader(redis_client, broken, stream=STREAM, batch_size=10, consumer="a")
    try:
        await failing.drain_all()
    except asyncpg.InterfaceError:
        pass
    else:
        raise AssertionError("loading through a closed pool must fail")
    pending = await redis_client.xpending(STREAM, "vault-loader")
    assert pending["pending"] == 20  # the batch that failed and the one read ahead of it
    healthy = StreamLoader(redis_client, vault_pool, stream=STREAM, batch_size=10, consumer="b")
    assert await healthy.drain_all() == 40
    assert await _requests(vault_pool) == 40
    assert await redis_client.xlen(STREAM) == 0


async def test_an_event_postgres_refuses_is_isolated_and_dead_lettered(
    vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    events = list(synthetic_events(41, seed=17))
    at = next(i for i in range(20, 41) if events[i].cost is not None)
    cost = events[at].cost
    assert cost is not None
    # Parses fine, but overflows numeric(24,12): PostgreSQL refuses the whole batch it is in.
    poison = events[at] = events[at].model_copy(
        update={"cost": cost.model_copy(update={"provider_cost": Decimal("1e15")})}
    )
    for ev in events:
        await redis_client.xadd(STREAM, {"event": ev.to_json()})
    loader = StreamLoader(redis_client, vault_pool, stream=STREAM, batch_size=100)
    assert await loader.drain_all() == 41  # did not stall: every entry was dealt with
    assert await _requests(vault_pool) == 40
    stored = await vault_pool.fetchval(
        "select count(*) from raw_vault.hub_api_request where api_request_bk = $1", poison.request_id
    )
    assert stored == 0  # none of the refused event's rows, not even its hub
    assert (loader.stats.loaded_events, loader.stats.refused_events, loader.stats.dead_lettered) == (40, 1, 1)
    [(_, dead)] = await redis_client.xrange(STREAM + DEAD_LETTER_SUFFIX)
    assert dead[b"event"] == poison.to_json() and b"overflow" in dead[b"error"]
    assert await redis_client.xlen(STREAM) == 0


async def test_run_keeps_loading_after_an_unexpected_client_error(
    vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    """asyncpg raises InternalClientError (not a PostgresError) when a connection dies mid-COPY
    during a PostgreSQL shutdown; the loader once died of it and loaded nothing after the thaw."""
    for ev in synthetic_events(30, seed=17):
        await redis_client.xadd(STREAM, {"event": ev.to_json()})
    loader = StreamLoader(redis_client, vault_pool, stream=STREAM, block_ms=20, linger_ms=0)
    real_load, calls = loader.loader.load, []

    async def wedged_once(batch: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise asyncpg.InternalClientError("cannot switch to state 12; another operation is in progress")
        return await real_load(batch)  # type: ignore[arg-type]

    loader.loader.load = wedged_once  # type: ignore[method-assign]
    task = asyncio.create_task(loader.run())
    try:
        for _ in range(100):
            if await _requests(vault_pool) == 30:
                break
            await asyncio.sleep(0.05)
    finally:
        loader.stop()
        await asyncio.wait_for(task, 5)
    assert await _requests(vault_pool) == 30
    assert loader.stats.failures == 1 and "InternalClientError" in (loader.stats.last_error or "")
    assert await redis_client.xlen(STREAM) == 0
