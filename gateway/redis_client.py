"""The gateway's Redis client: every wait bounded, and a Redis that stops answering skipped at once.

A frozen Redis (SIGSTOP, a stalled host, a full network buffer) accepts connections and never
answers, so every command would wait its full socket timeout — several of them per request, one
after the other. Instead, the first command that times out marks Redis *down* for this process
for ``down_s``: meanwhile every command fails at once with ``ConnectionError`` (callers already
treat that as "Redis unavailable": the event goes to the spool, a cache lookup is a miss,
admission fails closed or open as configured). After ``down_s`` exactly one command is let
through as a probe; its success closes the circuit, its failure re-opens it. A request therefore
waits at most about one socket timeout on Redis, however many commands it makes.

Only a wait that ran out marks Redis down: a stopped Redis refuses connections at once, so there
is nothing to fail fast for, and the first command after its restart must reach it. Timeouts are
not retried (a frozen server is still frozen 10 ms later); dropped connections are, once, as
before (a Redis restart).
"""

from __future__ import annotations

import time
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

UNANSWERED = (RedisConnectionError, RedisTimeoutError, OSError)
RETRIED = (RedisConnectionError,)  # not timeouts


class RedisHealth:
    """Per process: is Redis answering? Shared by the client and every pipeline it makes."""

    def __init__(self, down_s: float = 1.0) -> None:
        self.down_s = down_s
        self.down_until = 0.0
        self.is_down = False
        self.probing = False

    def before(self) -> bool:
        """Raise at once while Redis is down; True when this call is the one probe."""
        if not self.is_down:
            return False
        if self.probing or time.monotonic() < self.down_until:
            raise RedisConnectionError("Redis is not answering (failing fast until it does)")
        self.probing = True
        return True

    def answered(self) -> None:
        self.is_down = self.probing = False

    def unanswered(self) -> None:
        self.is_down, self.probing = True, False
        self.down_until = time.monotonic() + self.down_s


def hung(exc: BaseException) -> bool:
    """A wait that ran out (a frozen server), not a refusal (a stopped one fails fast anyway)."""
    seen: BaseException | None = exc  # redis-py wraps some (a timeout while connecting, no free conn)
    while seen is not None:
        if isinstance(seen, (RedisTimeoutError, TimeoutError)):
            return True
        seen = seen.__cause__
    return False


async def _guarded(health: RedisHealth, call: Any) -> Any:
    probe = health.before()
    try:
        result = await call()
    except UNANSWERED as exc:
        if hung(exc):
            health.unanswered()
        else:  # refused at once: nothing to fail fast for (redis-py reconnects when it is back)
            health.answered()
        raise
    except RedisError:  # the server answered, with an error (NOSCRIPT, WRONGTYPE, ...)
        health.answered()
        raise
    except BaseException:  # cancelled: this call proved nothing either way
        if probe:
            health.probing = False
        raise
    health.answered()
    return result


class GuardedPipeline(Pipeline):
    health: RedisHealth

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if not self.command_stack and not self.watching:
            return []
        return await _guarded(self.health, lambda: Pipeline.execute(self, raise_on_error))


class GuardedRedis(aioredis.Redis):
    health: RedisHealth

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        return await _guarded(
            self.health, lambda: super(GuardedRedis, self).execute_command(*args, **options)
        )

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> GuardedPipeline:
        pipe = GuardedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.health = self.health
        return pipe


def connect_redis(url: str, *, max_connections: int, timeout_s: float, down_s: float) -> GuardedRedis:
    """The request path's client: a blocking pool (under a burst a request waits briefly for a
    connection instead of failing over to the spool; redis-py's default pool raises at 100),
    ``timeout_s`` on connecting, on every read and on waiting for a free connection."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=10,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1, supported_errors=RETRIED),
    )
    client = cast(GuardedRedis, GuardedRedis.from_pool(pool))
    client.health = RedisHealth(down_s)
    return client
