"""Events survive a Redis outage through the local spool and are replayed into the stream."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.recording.emitter import EventEmitter
from gateway.recording.spool import Spool, SpoolError
from warehouse.events import RequestEvent
from warehouse.synthetic import synthetic_events

STREAM = "test:emit"


async def test_emit_goes_to_the_stream(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    emitter = EventEmitter(redis_client, STREAM, Spool(tmp_path))
    ev = next(synthetic_events(1))
    assert await emitter.emit(ev) == "stream"
    ((_, fields),) = await redis_client.xrange(STREAM)
    assert RequestEvent.from_json(fields[b"event"]) == ev


async def test_redis_down_spools_then_replays(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    spool = Spool(tmp_path / "spool")
    events = list(synthetic_events(5, seed=21))
    down = EventEmitter(dead, STREAM, spool)
    for ev in events:
        assert await down.emit(ev) == "spool"
    await dead.aclose()
    assert spool.pending()
    up = EventEmitter(redis_client, STREAM, spool)
    assert await up.replay_spool() == 5
    assert not spool.pending()
    replayed = [RequestEvent.from_json(f[b"event"]) for _, f in await redis_client.xrange(STREAM)]
    assert replayed == events


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append(b'{"a": 1}')
    with spool.path.open("ab") as f:
        f.write(b'{"half": ')  # a crash mid-write
    with spool.drain() as lines:
        assert lines == [b'{"a": 1}']


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_unwritable_spool_is_a_clear_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(SpoolError, match="cannot write event spool"):
            Spool(tmp_path / "spool").append(b"{}")
    finally:
        tmp_path.chmod(0o700)


def test_read_only_spool_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "spool"
    blocker.write_text("a file where the spool directory should be")
    spool = Spool(blocker)
    assert not spool.writable()
    with pytest.raises(SpoolError, match="cannot write event spool"):
        spool.append(b"{}")


async def test_concurrent_emits_are_group_committed(redis_client: aioredis.Redis, tmp_path: Path) -> None:
    emitter = EventEmitter(redis_client, STREAM, Spool(tmp_path))
    events = list(synthetic_events(50, seed=31))
    where = await asyncio.gather(*(emitter.emit(ev) for ev in events))
    assert where == ["stream"] * 50
    stored = [RequestEvent.from_json(f[b"event"]) for _, f in await redis_client.xrange(STREAM)]
    assert stored == events  # all of them, once each, in order


async def test_both_refusing_fails_every_waiting_emit(tmp_path: Path) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the spool directory should be")
    emitter = EventEmitter(dead, STREAM, Spool(blocked))
    results = await asyncio.gather(
        *(emitter.emit(ev) for ev in synthetic_events(3, seed=32)), return_exceptions=True
    )
    await dead.aclose()
    assert all(isinstance(r, SpoolError) for r in results)
