"""A short-lived per-customer cache for control-plane state read on the request path.

Rules and provider keys change rarely and are read on every request: each process keeps what
it read for ``ttl`` seconds, which bounds how long a change takes to reach every gateway.

While PostgreSQL is unreachable the last value read keeps serving (retried every second): an
outage of the vault must not turn into failed requests once a cache entry expires — the
durable event path is built so traffic outlives such an outage. A customer never read before
gets a 503 instead of a guess.
"""

from __future__ import annotations

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


class PerCustomer(Generic[T]):
    def __init__(self, load: Callable[[str], Awaitable[T]], ttl: float = 10.0) -> None:
        self._load = load
        self.ttl = ttl
        self._cache: dict[str, tuple[float, T]] = {}

    async def get(self, customer: str) -> T:
        now = time.monotonic()
        hit = self._cache.get(customer)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            value = await self._load(customer)
        except UNREACHABLE as exc:
            if hit is None:
                raise ApiError(
                    503, "settings_unavailable", "The customer's settings cannot be read; retry shortly."
                ) from exc
            log.warning("control-plane read failed (%s); serving the last known", type(exc).__name__)
            self._cache[customer] = (now + min(self.ttl, RETRY_STALE_S), hit[1])
            return hit[1]
        self._cache[customer] = (now + self.ttl, value)
        return value

    def forget(self, customer: str) -> None:
        self._cache.pop(customer, None)
