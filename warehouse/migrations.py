"""Apply ``sql/NNN_name.sql`` migrations in order, once each, and refuse silent drift.

Each applied file is recorded in ``onevault_meta.schema_migrations`` with its SHA-256; a file
changed after it was applied is an error (fix forward with a new file instead).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_ID = 0x0E7A_0001  # advisory lock: two `onevault migrate` at once take turns

_BOOTSTRAP = """
create schema if not exists onevault_meta;
create table if not exists onevault_meta.schema_migrations (
  version integer primary key,
  name text not null,
  checksum text not null,
  applied_at timestamptz not null default now()
);
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_lower_snake.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations numbered {version:03d}: {found[version].name}, {path.name}")
        found[version] = Migration(version, path.name, path)
    return [found[v] for v in sorted(found)]


async def applied(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
    exists = await conn.fetchval("select to_regclass('onevault_meta.schema_migrations') is not null")
    if not exists:
        return {}
    rows = await conn.fetch("select version, name, checksum from onevault_meta.schema_migrations")
    return {r["version"]: (r["name"], r["checksum"]) for r in rows}


async def migrate(conn: asyncpg.Connection, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations; return the names applied (empty when up to date)."""
    migrations = discover(sql_dir)
    await conn.execute("select pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(_BOOTSTRAP)
        done = await applied(conn)
        newly: list[str] = []
        for m in migrations:
            if m.version in done:
                name, checksum = done[m.version]
                if checksum != m.checksum:
                    raise MigrationError(
                        f"sql/{m.name} changed after it was applied as {name} "
                        f"(recorded sha256 {checksum[:12]}…, file {m.checksum[:12]}…); "
                        "never edit an applied migration: add a new one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "insert into onevault_meta.schema_migrations (version, name, checksum) "
                    "values ($1, $2, $3)",
                    m.version,
                    m.name,
                    m.checksum,
                )
            newly.append(m.name)
        return newly
    finally:
        await conn.execute("select pg_advisory_unlock($1)", _LOCK_ID)


async def schema_version(conn: asyncpg.Connection) -> int | None:
    done = await applied(conn)
    return max(done) if done else None
