"""Drain the gateway's event stream (a Redis Stream) into the raw vault.

A consumer group gives at-least-once delivery: entries are acknowledged (and deleted) only
after the PostgreSQL transaction that loaded them commits, so a crash or an outage of
PostgreSQL leaves them pending for the next try; loads are idempotent, so redelivery is
harmless. Entries another consumer left pending (a killed process) are claimed after
``claim_idle_ms``.

After a partial batch the loader lingers ``linger_ms`` before reading again (Kafka's
``linger.ms``): at low traffic this turns one PostgreSQL transaction per request into a few per
second, which is most of the gateway's CPU otherwise; at high traffic batches fill and it never
waits. Loader lag stays bounded by the linger plus one load.

A poison event — one that parses but that PostgreSQL refuses (a numeric overflow, a NUL in a
text) — would otherwise fail its whole batch on every retry and stall the stream for good. On
such a *data* error the batch is bisected: the halves are loaded apart until the refused entry
stands alone, everything else is loaded, and the refused entry goes to the dead-letter stream
``<stream>:dead`` (with the database's reason) in the same Redis transaction as the ack.
Outages (connection errors) are not data errors: they still leave the batch pending.

Under a backlog (full batches) loading is pipelined like ``load_pipelined``: the next batch is
read, parsed and mapped in a worker thread while PostgreSQL loads the current one, so parsing
JSON and mapping (Python, one core) overlap the inserts (the server, the other core). Each
batch is still acknowledged only after its own transaction commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import RedisError, ResponseError

from warehouse.batch import VaultBatch
from warehouse.events import RequestEvent
from warehouse.loader import VaultLoader, gil_yielding
from warehouse.mapping import batch_from_events
from warehouse.settings import Settings

log = logging.getLogger("onevault.loader")

# What PostgreSQL (or asyncpg's encoder, client-side) says about the rows themselves, not about
# reaching the server: retrying the same rows can never succeed.
DATA_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.DataError,  # SQLSTATE class 22: numeric overflow, invalid text, NUL bytes, ...
    asyncpg.IntegrityConstraintViolationError,  # class 23
    asyncpg.ProgramLimitExceededError,  # class 54: e.g. an index row too large
    asyncpg.exceptions._base.DataError,  # client-side: a value the binary COPY codec refuses
)

# Reaching PostgreSQL or Redis failed: the batch stays pending and is tried again.
OUTAGES: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    RedisError,
    TimeoutError,
)

GROUP = "vault-loader"
DEAD_LETTER_SUFFIX = ":dead"


@dataclass(slots=True)
class LoaderStats:
    loaded_events: int = 0
    batches: int = 0
    failures: int = 0
    dead_lettered: int = 0  # malformed and refused entries moved to <stream>:dead
    refused_events: int = 0  # of those, events that parsed but PostgreSQL refused
    last_error: str | None = None
    last_success_monotonic: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _Prepared:
    """Stream entries read, parsed and mapped, waiting to be loaded and acknowledged."""

    ids: list[bytes]
    batch: VaultBatch | None
    events: int
    bad: list[dict]  # fields of entries that are not events: dead-lettered with the ack
    parsed: list[tuple[dict, RequestEvent]]  # the events with their entry's fields, for bisection

    def __len__(self) -> int:
        return len(self.ids)


def _parse_and_map(entries: Sequence[tuple[bytes, dict]]) -> _Prepared:
    parsed: list[tuple[dict, RequestEvent]] = []
    bad: list[dict] = []
    for _eid, fields in gil_yielding(entries):
        try:
            parsed.append((fields, RequestEvent.from_json(fields[b"event"])))
        except (KeyError, ValidationError, ValueError):
            bad.append(fields)
    events = [ev for _, ev in parsed]
    batch = batch_from_events(gil_yielding(events)) if events else None
    return _Prepared([eid for eid, _ in entries], batch, len(events), bad, parsed)


class StreamLoader:
    def __init__(
        self,
        redis: aioredis.Redis,
        pool: asyncpg.Pool,
        *,
        stream: str,
        batch_size: int = 2000,
        block_ms: int = 200,
        linger_ms: int = 250,
        claim_idle_ms: int = 15_000,
        consumer: str | None = None,
    ) -> None:
        self.redis = redis
        self.pool = pool
        self.loader = VaultLoader(pool)
        self.stream = stream
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.linger_ms = linger_ms
        self.claim_idle_ms = claim_idle_ms
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.stats = LoaderStats()
        self._stopping = asyncio.Event()

    @classmethod
    def from_settings(cls, redis: aioredis.Redis, pool: asyncpg.Pool, settings: Settings) -> StreamLoader:
        return cls(
            redis,
            pool,
            stream=settings.event_stream,
            batch_size=settings.loader_batch_size,
            block_ms=settings.loader_block_ms,
            linger_ms=settings.loader_linger_ms,
        )

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Load until ``stop()``; back off while PostgreSQL or Redis is unavailable."""
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                await self.ensure_group()
                _, last = await self._drain_pipelined(block=True)
                backoff = 0.2
                if not last:
                    await self._claim_abandoned()
                elif last < self.batch_size and self.linger_ms:
                    await self._sleep(self.linger_ms / 1000)
            except OUTAGES as exc:
                self._failed(exc)
                log.warning("vault load failed, will retry: %s", self.stats.last_error)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception as exc:  # never stop loading: what is not loaded stays pending
                # e.g. asyncpg's InternalClientError when a connection dies mid-COPY, which
                # leaves the connection's protocol wedged: start every connection afresh.
                self._failed(exc)
                log.exception("vault load failed unexpectedly, will retry")
                await self.pool.expire_connections()
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _failed(self, exc: Exception) -> None:
        self.stats.failures += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]

    def stop(self) -> None:
        self._stopping.set()

    async def drain_once(self, *, block: bool = False) -> int:
        """Load one batch: our own pending entries first (a previous failed try), then new ones."""
        entries = await self._read_pending_or_new(block)
        return await self._commit(await self._prepare(entries)) if entries else 0

    async def drain_all(self, timeout: float = 30.0) -> int:
        """Load everything currently in the stream (tests, CLI, shutdown)."""
        await self.ensure_group()
        total = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n, _ = await self._drain_pipelined()
            if n == 0:
                n = await self._claim_abandoned(idle_ms=0)
                if n == 0:
                    return total
            total += n
        raise TimeoutError(f"stream {self.stream} not drained within {timeout}s")

    async def _drain_pipelined(self, *, block: bool = False) -> tuple[int, int]:
        """Load batches while they come full, preparing batch *n+1* while batch *n* loads.
        Returns (entries loaded, size of the last batch)."""
        entries = await self._read_pending_or_new(block)
        if not entries:
            return 0, 0
        ready = await self._prepare(entries)
        total = 0
        while len(ready) >= self.batch_size and not self._stopping.is_set():
            loaded, ahead = await asyncio.gather(
                self._commit(ready), self._read_and_prepare(), return_exceptions=True
            )
            for outcome in (loaded, ahead):
                if isinstance(outcome, BaseException):  # what was read ahead stays pending
                    raise outcome
            assert isinstance(loaded, int) and not isinstance(ahead, BaseException)
            total += loaded
            if ahead is None:
                return total, loaded
            ready = ahead
        last = await self._commit(ready)
        return total + last, last

    async def _read_pending_or_new(self, block: bool) -> list[tuple[bytes, dict]]:
        pending = await self._read("0")
        return pending or await self._read(">", block=self.block_ms if block else None)

    async def _read_and_prepare(self) -> _Prepared | None:
        fresh = await self._read(">")
        return await self._prepare(fresh) if fresh else None

    async def lag_seconds(self) -> float:
        """Age of the oldest entry not yet loaded (0 when the stream is empty)."""
        try:
            first = await self.redis.xrange(self.stream, count=1)
        except RedisError:
            return 0.0
        if not first:
            return 0.0
        entry_id = cast(bytes, first[0][0])
        ms = int(entry_id.split(b"-")[0])
        return max(0.0, time.time() - ms / 1000)

    async def _read(self, start: str, block: int | None = None) -> list[tuple[bytes, dict]]:
        reply = await self.redis.xreadgroup(
            GROUP, self.consumer, {self.stream: start}, count=self.batch_size, block=block
        )
        if not reply:
            return []
        entries = cast(list[tuple[bytes, dict]], cast(Any, reply)[0][1])  # one stream: [(id, fields)]
        return [(eid, fields) for eid, fields in entries if fields]

    async def _claim_abandoned(self, idle_ms: int | None = None) -> int:
        idle = self.claim_idle_ms if idle_ms is None else idle_ms
        reply = await self.redis.xautoclaim(
            self.stream, GROUP, self.consumer, min_idle_time=idle, start_id="0-0", count=self.batch_size
        )
        claimed = [(eid, f) for eid, f in reply[1] if f]
        return await self._commit(await self._prepare(claimed)) if claimed else 0

    async def _prepare(self, entries: Sequence[tuple[bytes, dict]]) -> _Prepared:
        return await asyncio.to_thread(_parse_and_map, entries)

    async def _commit(self, prepared: _Prepared) -> int:
        """Load a prepared batch, then acknowledge (and delete) its entries; a poison entry is
        moved to the dead-letter stream in the same Redis transaction, never blocking the stream."""
        refused: list[tuple[dict, str]] = []
        if prepared.batch is not None:
            try:
                await self.loader.load(prepared.batch)
            except DATA_ERRORS as exc:
                log.warning("batch refused (%s); isolating the event(s) at fault", type(exc).__name__)
                refused = await self._load_isolating(prepared.parsed)
        dead = self.stream + DEAD_LETTER_SUFFIX
        async with self.redis.pipeline(transaction=True) as pipe:
            for fields in prepared.bad:
                pipe.xadd(dead, fields)
            for fields, reason in refused:
                pipe.xadd(dead, {**fields, b"error": reason.encode()})
            pipe.xack(self.stream, GROUP, *prepared.ids)
            pipe.xdel(self.stream, *prepared.ids)
            await pipe.execute()
        if prepared.bad:
            self.stats.dead_lettered += len(prepared.bad)
            log.error("moved %d malformed event(s) to %s", len(prepared.bad), dead)
        if refused:
            self.stats.dead_lettered += len(refused)
            self.stats.refused_events += len(refused)
            log.error("moved %d event(s) PostgreSQL refused to %s: %s", len(refused), dead, refused[0][1])
        self.stats.loaded_events += prepared.events - len(refused)
        self.stats.batches += 1
        self.stats.last_success_monotonic = time.monotonic()
        return len(prepared)

    async def _load_isolating(self, parsed: list[tuple[dict, RequestEvent]]) -> list[tuple[dict, str]]:
        """Load ``parsed`` in halves until each refused part is one event; return those events
        (fields, reason). Good halves commit on their own — loads are idempotent, so a half
        loaded again after a crash is harmless. log2(batch) rounds per poison event."""
        batch = await asyncio.to_thread(batch_from_events, [ev for _, ev in parsed])
        try:
            await self.loader.load(batch)
            return []
        except DATA_ERRORS as exc:
            if len(parsed) == 1:
                return [(parsed[0][0], f"{type(exc).__name__}: {exc}"[:500])]
        mid = len(parsed) // 2
        return [*await self._load_isolating(parsed[:mid]), *await self._load_isolating(parsed[mid:])]

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
