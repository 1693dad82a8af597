"""asyncpg connections and pools configured the way the vault needs them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import redis.asyncio as aioredis
from pgvector.asyncpg import register_vector

T = TypeVar("T")


async def _init_connection(conn: asyncpg.Connection) -> None:
    # COPY of vector columns fails without the codec (STACK.md trap 8); the extension may be
    # missing on a database that has not been migrated yet.
    if await conn.fetchval("select 1 from pg_type where typname = 'vector'"):
        await register_vector(conn)


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


class BoundedPool(asyncpg.Pool):
    """A pool whose every wait is bounded: taking a connection (``acquire_timeout``, also what
    giving it back may take), each command (``command_timeout``: asyncpg then cancels it, and the
    cancel request itself gets the same bound) and opening a connection (``connect_timeout``).

    For the request path: a frozen server (connections accepted, nothing answered) must turn into
    a quick error, never a request that hangs until its client gives up.
    """

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self.acquire_timeout if timeout is None else timeout)


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    command_timeout: float | None = None,
    acquire_timeout: float | None = None,
    connect_timeout: float = 60.0,
) -> asyncpg.Pool:
    """A pool; with ``command_timeout`` and ``acquire_timeout`` a ``BoundedPool`` (request path)."""
    if command_timeout is None and acquire_timeout is None:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=_init_connection, timeout=connect_timeout
        )
        assert pool is not None
        return pool
    bounded = BoundedPool(
        dsn,
        acquire_timeout=acquire_timeout or connect_timeout,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        init=_init_connection,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        command_timeout=command_timeout,
        timeout=connect_timeout,
    )
    return await bounded


def run_with_pool(dsn: str, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Run ``fn(pool)`` on a short-lived pool, from synchronous code (CLI commands, Dagster steps)."""

    async def main() -> T:
        pool = await create_pool(dsn, min_size=1, max_size=2)
        try:
            return await fn(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def run_with_pool_and_redis(
    dsn: str, redis_url: str, fn: Callable[[asyncpg.Pool, aioredis.Redis], Awaitable[T]]
) -> T:
    """``run_with_pool`` for work that must also touch Redis (e.g. drop cached state)."""

    async def with_redis(pool: asyncpg.Pool) -> T:
        redis = aioredis.Redis.from_url(redis_url)
        try:
            return await fn(pool, redis)
        finally:
            await redis.aclose()

    return run_with_pool(dsn, with_redis)
