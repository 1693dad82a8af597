"""A short-lived per-customer cache for control-plane state read on the request path.

Rules and provider keys change rarely and are read on every request: each process keeps what
it read for ``ttl`` seconds, which bounds how long a change takes to reach every gateway.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


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
        value = await self._load(customer)
        self._cache[customer] = (now + self.ttl, value)
        return value

    def forget(self, customer: str) -> None:
        self._cache.pop(customer, None)
