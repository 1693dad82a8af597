"""Whether the marts a page reads exist yet: a fresh vault has no dbt build, and its pages then
show "no data yet" instead of failing."""

from __future__ import annotations

import asyncpg


async def exist(db: asyncpg.Pool | asyncpg.Connection, *names: str) -> bool:
    """True when every ``schema.table`` in ``names`` exists."""
    found = await db.fetchval(
        "select count(*) from unnest($1::text[]) as n where to_regclass(n) is not null", list(names)
    )
    return found == len(names)
