"""Failed attempts per client address, counted in Redis per fixed minute and shared by every
gateway process: a flood of wrong keys or tokens from one address is refused with 429 before it
costs a vault lookup or an audit row. Only failures are counted (one INCR each), so a client that
authenticates pays nothing for it.
"""

from __future__ import annotations

import contextlib
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError


class FailureThrottle:
    def __init__(self, redis: aioredis.Redis, kind: str, per_minute: int) -> None:
        self.redis = redis
        self.kind = kind  # "auth" (API keys) | "admin" (the admin token)
        self.per_minute = per_minute

    def key(self, address: str, now: float | None = None) -> str:
        minute = int((time.time() if now is None else now) // 60)
        return f"ov:fail:{self.kind}:{address}:{minute}"

    @staticmethod
    def retry_after(now: float | None = None) -> int:
        """Seconds until the current window ends (at least 1)."""
        return max(1, 60 - int((time.time() if now is None else now) % 60))

    def exceeded(self, count: bytes | str | int | None) -> bool:
        """Whether a counter read with the caller's own round trip (an MGET) is at the limit."""
        return count is not None and int(count) >= self.per_minute

    async def failed(self, address: str | None) -> int:
        """Count one failure from ``address``; returns the window's count (0 if Redis is away:
        the throttle then waits for Redis rather than refusing everyone)."""
        if not address:
            return 0
        key = self.key(address)
        with contextlib.suppress(RedisError, OSError):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 120)
                count, _ = await pipe.execute()
            return int(count)
        return 0
