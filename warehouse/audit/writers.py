"""Writing one record kind to JSON Lines and CSV straight from ``COPY ... TO STDOUT``.

PostgreSQL formats and streams the rows; Python only hashes and appends the chunks to the file,
so an export of millions of rows needs a few megabytes of memory whatever its size.

JSON Lines come out of the same ``COPY`` in CSV mode with a delimiter and a quote character
that valid JSON text can never hold unescaped (``\\x01``, ``\\x02``): each row is then written
exactly as ``row_to_json`` produced it, one line per row, with no quoting added.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import asyncpg

from warehouse.audit.params import ExportScope
from warehouse.audit.queries import RecordKind

_COPY_ROWS = re.compile(r"COPY (\d+)")


@dataclass(frozen=True, slots=True)
class WrittenFile:
    name: str
    rows: int
    sha256: str
    bytes: int


class HashingSink:
    """An ``output`` for asyncpg's COPY: appends to a file, hashing and counting as it goes."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    async def __call__(self, chunk: bytes) -> None:
        self.handle.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)


# Export queries read whole periods: hash and merge joins are right for them. Left to its
# estimates (no statistics on CTE results, or a vault not yet analysed after a big load) the
# planner can pick nested loops over aggregated CTEs — quadratic, minutes instead of seconds.
# Sorts and hashes of a million-request month spill to disk at the default work_mem; 256 MB
# (server memory, per sort/hash node, for the export's two sessions only) halved the time, and
# 512 MB lets each half-month part of the requests (requests_pass) sort and hash in memory:
# 1M requests, 52 → 44 s of PostgreSQL CPU.
EXPORT_SESSION = "set enable_nestloop = off; set work_mem = '512MB'"


async def tune(conn: asyncpg.Connection) -> None:
    """Session settings for export queries (a pool's ``RESET ALL`` drops them on release)."""
    await conn.execute(EXPORT_SESSION)


def _rows(status: str) -> int:
    match = _COPY_ROWS.search(status)
    if match is None:
        raise RuntimeError(f"unexpected COPY status {status!r}")
    return int(match.group(1))


async def copy_to_file(conn: asyncpg.Connection, query: str, path: Path, **options: object) -> WrittenFile:
    with path.open("wb") as handle:
        sink = HashingSink(handle)
        status = await conn.copy_from_query(query, output=sink, **options)
    return WrittenFile(path.name, _rows(status), sink.digest.hexdigest(), sink.size)


async def write_jsonl(
    conn: asyncpg.Connection, kind: RecordKind, scope: ExportScope, out: Path
) -> WrittenFile:
    query = kind.ordered(scope, "row_to_json(q)::text")
    return await copy_to_file(
        conn, query, out / f"{kind.name}.jsonl", format="csv", delimiter="\x01", quote="\x02"
    )


async def write_csv(conn: asyncpg.Connection, kind: RecordKind, scope: ExportScope, out: Path) -> WrittenFile:
    return await copy_to_file(conn, kind.ordered(scope), out / f"{kind.name}.csv", format="csv", header=True)
