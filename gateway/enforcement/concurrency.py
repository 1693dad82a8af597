"""Concurrency slots: how many requests a customer (and each of its keys) may have in flight at
once, across every gateway process — so one tenant cannot take the upstream pool, the workers or
the providers' patience from everyone else.

A slot is a *lease* in a Redis sorted set per scope (``ov:cc:<scope>``): member = a random
token, score = when the lease expires. Taking one rides in the rate limiter's admission script
(gateway/enforcement/ratelimit.py): expired leases are dropped, the live ones counted, and the
new one added only if every scope has room — atomically, so concurrent requests on any number of
processes can never pass a limit together. The request gives it back when it settles (one
pipelined ``ZREM``, beside the token counts). While it runs, this process renews all its leases
in one pipeline every third of ``lease_s``; a process that dies stops renewing, and its slots
free themselves within ``lease_s``. A request that ends without settling (an error, a client
gone before its stream started) frees its slot when its context is collected (a weak-reference
finalizer), so no path can leak one for longer than the lease.

While Redis is unreachable, a customer that has no rate limit or budget (nothing that needs the
shared counters) is held to the same limits *per process* instead of being refused; with rate
limits or budgets, admission's fail-closed rule decides (gateway/pipeline/admission.py).
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
    """One request's slots: the sorted sets it is a member of (or, Redis away, local scopes)."""

    token: str
    keys: tuple[str, ...]
    local: bool = False
    _finalizer: weakref.finalize | None = field(default=None, repr=False)


class LeaseBook:
    """This process's leases: renewed while held, given back once, never leaked."""

    def __init__(self, redis: aioredis.Redis, lease_s: float = 30.0) -> None:
        self.redis = redis
        self.lease_s = lease_s
        self._held: weakref.WeakSet[Lease] = weakref.WeakSet()
        self._local: Counter[str] = Counter()  # slots held per scope key while Redis is away

    @staticmethod
    def new_token() -> str:
        return secrets.token_hex(8)

    def expiry_ms(self, now: float | None = None) -> int:
        return int(((time.time() if now is None else now) + self.lease_s) * 1000)

    def track(self, token: str, keys: list[str]) -> Lease:
        """A lease the admission script just took in Redis."""
        return self._track(Lease(token, tuple(keys)))

    def take_local(self, limits: list[tuple[str, int]]) -> tuple[Lease | None, int]:
        """Per-process slots (Redis away): the lease, or None and the index of the full scope."""
        for i, (key, limit) in enumerate(limits):
            if self._local[key] >= limit:
                return None, i
        for key, _ in limits:
            self._local[key] += 1
        return self._track(Lease(self.new_token(), tuple(k for k, _ in limits), local=True)), -1

    def _track(self, lease: Lease) -> Lease:
        self._held.add(lease)
        loop = asyncio.get_running_loop()
        finalizer = weakref.finalize(lease, self._orphaned, loop, lease.token, lease.keys, lease.local)
        finalizer.atexit = False
        lease._finalizer = finalizer
        return lease

    def release(self, pipe: aioredis.client.Pipeline | None, lease: Lease | None) -> None:
        """Give the lease back: its ZREMs go into ``pipe`` (the caller's round trip)."""
        if lease is None or lease._finalizer is None or not lease._finalizer.detach():
            return  # none, or already given back
        self._held.discard(lease)
        if lease.local:
            self._free_local(lease.keys)
        elif pipe is not None:
            for key in lease.keys:
                pipe.zrem(key, lease.token)

    async def give_back(self, lease: Lease | None) -> None:
        """``release`` in a round trip of its own (a Redis failure: the lease just expires)."""
        if lease is None or lease.local:
            self.release(None, lease)
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            self.release(pipe, lease)
            with contextlib.suppress(RedisError, OSError):
                await pipe.execute()

    def _free_local(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._local[key] -= 1
            if self._local[key] <= 0:
                del self._local[key]

    def _orphaned(
        self, loop: asyncio.AbstractEventLoop, token: str, keys: tuple[str, ...], local: bool
    ) -> None:
        """A request ended without settling: free its slots (runs where the lease was collected)."""
        if loop.is_closed():
            return  # shutting down: Redis leases expire on their own, local ones die with us
        if local:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._free_local, keys)
            return

        async def remove() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(key, token)
                with contextlib.suppress(RedisError, OSError):
                    await pipe.execute()

        with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
            loop.call_soon_threadsafe(lambda: loop.create_task(remove()))

    async def renew(self) -> None:
        """Push every held lease's expiry forward (only leases still in their set: ``XX``)."""
        held = [lease for lease in list(self._held) if not lease.local]
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
