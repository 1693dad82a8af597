"""asyncpg connections and pools configured the way the vault needs them."""

from __future__ import annotations

import asyncpg
from pgvector.asyncpg import register_vector


async def _init_connection(conn: asyncpg.Connection) -> None:
    # COPY of vector columns fails without the codec (STACK.md trap 8); the extension may be
    # missing on a database that has not been migrated yet.
    if await conn.fetchval("select 1 from pg_type where typname = 'vector'"):
        await register_vector(conn)


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool
