"""A short-lived per-customer cache for control-plane state read on the request path.

Rules and provider keys change rarely and are read on every request: each process keeps what
it read for ``ttl`` seconds, which bounds how long a change takes to reach every gateway.

While PostgreSQL is unreachable — or frozen, answering nothing — the last value read keeps
serving (retried every second): an outage of the vault must not turn into failed or hung
requests once a cache entry expires; the durable event path is built so traffic outlives it.
So a refresh runs as its own task, one per customer however many requests want it, and a
request waits for it at most ``stale_wait_s`` when it has a last value to fall back on (the
refresh goes on and fills the cache when it ends), at most ``first_wait_s`` when it has none —
then it gets a 503 instead of a guess.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import asyncpg

from gateway.errors import ApiError

T = TypeVar("T")
log = logging.getLogger("onevault.control_plane")

UNREACHABLE = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)  # OSError covers TimeoutError
RETRY_STALE_S = 1.0
STALE_WAIT_S = 0.5  # a healthy refresh takes milliseconds
FIRST_WAIT_S = 5.0


class PerCustomer(Generic[T]):
    def __init__(
        self,
        load: Callable[[str], Awaitable[T]],
        ttl: float = 10.0,
        *,
        stale_wait_s: float = STALE_WAIT_S,
        first_wait_s: float = FIRST_WAIT_S,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self.stale_wait_s = stale_wait_s
        self.first_wait_s = first_wait_s
        self._cache: dict[str, tuple[float, T]] = {}
        self._loading: dict[str, asyncio.Task[T]] = {}

    async def get(self, customer: str) -> T:
        hit = self._cache.get(customer)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        task = self._loading.get(customer)
        if task is None:
            task = self._loading[customer] = asyncio.create_task(self._refresh(customer))
            task.add_done_callback(_retrieved)
        try:
            async with asyncio.timeout(self.first_wait_s if hit is None else self.stale_wait_s):
                return await asyncio.shield(task)
        except UNREACHABLE as exc:  # the load failed (or did not end in time: TimeoutError)
            if hit is None:
                raise ApiError(
                    503,
                    "settings_unavailable",
                    "The customer's settings cannot be read; retry shortly.",
                    headers={"retry-after": "1"},
                ) from exc
            log.warning("control-plane read failed (%s); serving the last known", type(exc).__name__)
            if self._cache.get(customer) is hit:  # the others need not wait on the same refresh
                self._cache[customer] = (time.monotonic() + min(self.ttl, RETRY_STALE_S), hit[1])
            return hit[1]

    async def _refresh(self, customer: str) -> T:
        """Load once for every waiter; a failure keeps the last value for ``RETRY_STALE_S``."""
        try:
            value = await self._load(customer)
        except UNREACHABLE:
            hit = self._cache.get(customer)
            if hit is not None:
                self._cache[customer] = (time.monotonic() + min(self.ttl, RETRY_STALE_S), hit[1])
            raise
        finally:
            self._loading.pop(customer, None)
        self._cache[customer] = (time.monotonic() + self.ttl, value)
        return value

    def forget(self, customer: str) -> None:
        self._cache.pop(customer, None)


def _retrieved(task: asyncio.Task) -> None:
    """A refresh nobody waited for to the end must not log 'exception never retrieved'."""
    if not task.cancelled():
        task.exception()
