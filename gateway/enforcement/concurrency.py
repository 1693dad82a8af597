"""Concurrency slots: how many requests a customer (and each of its keys) may have in flight at
once — so one tenant cannot take the upstream pool, the workers or the providers' patience from
everyone else.

Two kinds of slot, chosen by where the limit comes from:

- A limit set **on the customer** (``max_concurrent``, ``max_concurrent_per_key``) is shared by
  every gateway process: a *lease* in a Redis sorted set per scope (``ov:cc:<scope>``; member = a
  random token, score = when the lease expires). Taking one rides in the rate limiter's admission
  script (gateway/enforcement/ratelimit.py), atomically, so requests on any number of processes
  can never pass the limit together. It is given back when the request settles (one pipelined
  ``ZREM`` beside the token counts); this process renews its leases every third of ``lease_s``,
  so a process that dies frees its slots within ``lease_s``.
- The **gateway default** (``ONEVAULT_MAX_CONCURRENT_PER_*``) guards what each process owns — its
  upstream connection pool and event loop — so it is counted in this process's memory: no Redis
  round trip for a customer that set nothing (the plain request's budget).

A request that ends without settling (an error, a client gone before its stream started) frees
its slots when its context is collected (a weak-reference finalizer), so no path leaks one for
longer than the lease. While Redis is unreachable, a customer that has no rate limit or budget
is held to its shared limits per process instead of being refused; with rate limits or budgets,
admission's fail-closed rule decides (gateway/pipeline/admission.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("onevault.concurrency")
RETRY_AFTER_S = 1  # a slot frees as soon as any of the scope's requests ends


def slot_key(scope: str) -> str:
    return f"ov:cc:{scope}"


@dataclass(eq=False, slots=True, weakref_slot=True)
class Lease:
    """One request's slots: the Redis sorted sets it is a member of and the per-process scopes."""

    token: str
    keys: tuple[str, ...] = ()  # shared slots (Redis)
    local_keys: tuple[str, ...] = ()  # this process's slots
    _finalizer: weakref.finalize | None = field(default=None, repr=False)


class LeaseBook:
    """This process's leases: renewed while held, given back once, never leaked."""

    def __init__(self, redis: aioredis.Redis, lease_s: float = 30.0) -> None:
        self.redis = redis
        self.lease_s = lease_s
        self._held: weakref.WeakSet[Lease] = weakref.WeakSet()  # leases with shared slots
        self._local: Counter[str] = Counter()  # per-process slots held, per scope key

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(8)

    def expiry_ms(self, now: float | None = None) -> int:
        return int(((time.time() if now is None else now) + self.lease_s) * 1000)

    def hold_local(self, limits: list[tuple[str, int]]) -> int:
        """Take a per-process slot in every scope, or none: -1, or the index of the full scope."""
        for i, (key, limit) in enumerate(limits):
            if self._local[key] >= limit:
                return i
        for key, _ in limits:
            self._local[key] += 1
        return -1

    def free_local(self, keys: tuple[str, ...] | list[str]) -> None:
        for key in keys:
            self._local[key] -= 1
            if self._local[key] <= 0:
                del self._local[key]

    def lease(self, token: str, keys: list[str], local_keys: list[str]) -> Lease | None:
        """Track slots just taken (shared ones by the admission script, local by ``hold_local``)."""
        if not keys and not local_keys:
            return None
        lease = Lease(token, tuple(keys), tuple(local_keys))
        if keys:
            self._held.add(lease)
        loop = asyncio.get_running_loop()
        finalizer = weakref.finalize(lease, self._orphaned, loop, lease.token, lease.keys, lease.local_keys)
        finalizer.atexit = False  # type: ignore[misc]  # a documented attribute typeshed's __slots__ omit
        lease._finalizer = finalizer
        return lease

    def release(self, pipe: aioredis.client.Pipeline | None, lease: Lease | None) -> None:
        """Give the lease back: its ZREMs go into ``pipe`` (the caller's round trip)."""
        if lease is None or lease._finalizer is None or not lease._finalizer.detach():
            return  # none, or already given back
        self.free_local(lease.local_keys)
        if lease.keys:
            self._held.discard(lease)
            if pipe is not None:
                for key in lease.keys:
                    pipe.zrem(key, lease.token)

    async def give_back(self, lease: Lease | None) -> None:
        """``release`` in a round trip of its own (a Redis failure: the lease just expires)."""
        if lease is None or not lease.keys:
            self.release(None, lease)
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            self.release(pipe, lease)
            with contextlib.suppress(RedisError, OSError):
                await pipe.execute()

    def _orphaned(
        self,
        loop: asyncio.AbstractEventLoop,
        token: str,
        keys: tuple[str, ...],
        local_keys: tuple[str, ...],
    ) -> None:
        """A request ended without settling: free its slots (runs where the lease was collected)."""
        if loop.is_closed():
            return  # shutting down: Redis leases expire on their own, local ones die with us
        with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
            if local_keys:
                loop.call_soon_threadsafe(self.free_local, local_keys)
            if keys:
                loop.call_soon_threadsafe(lambda: loop.create_task(self._remove(token, keys)))

    async def _remove(self, token: str, keys: tuple[str, ...]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(key, token)
            with contextlib.suppress(RedisError, OSError):
                await pipe.execute()

    async def renew(self) -> None:
        """Push every held lease's expiry forward (only leases still in their set: ``XX``)."""
        held = list(self._held)
        if not held:
            return
        expiry = self.expiry_ms()
        async with self.redis.pipeline(transaction=False) as pipe:
            for lease in held:
                for key in lease.keys:
                    pipe.zadd(key, {lease.token: expiry}, xx=True)
                    pipe.pexpire(key, int(self.lease_s * 2000))
            await pipe.execute()

    async def run(self) -> None:
        """Renew on a timer, a third of the lease apart (a missed renewal is not yet an expiry)."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.renew()
            except (RedisError, OSError) as exc:
                log.warning("could not renew concurrency leases (%s)", type(exc).__name__)
