"""The ``payloads`` files (only on request): what the customer's retention mode kept of each
prompt and completion in the period — digests always, the texts when they were sealed, the data
key still exists (not erased) and the caller can open them.

Opening needs the key ring, which belongs to the gateway; the caller passes an ``opener`` (the
CLI builds one from the customer's data keys), so this library stays free of gateway imports.
These files are written row by row in Python (the texts must be decrypted), streamed through a
server-side cursor: still never the whole export in memory.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg

from warehouse.audit.params import ExportScope
from warehouse.audit.queries import PAYLOADS
from warehouse.audit.writers import WrittenFile

# (request id, the payload row with nonces and ciphertexts) → (prompt, completion) or None
PayloadOpener = Callable[[str, asyncpg.Record], Awaitable[tuple[str, str] | None]]

COLUMNS = (
    "request_id",
    "request_ts",
    "load_dts",
    "retention_mode",
    "prompt_sha256",
    "completion_sha256",
    "data_key_id",
    "sealed",
    "readable",
    "prompt",
    "completion",
)

_SEALED = PAYLOADS.sql.replace(
    "  (pl.prompt_ciphertext is not null) as sealed\n",
    "  (pl.prompt_ciphertext is not null) as sealed,\n"
    "  pl.prompt_nonce, pl.prompt_ciphertext, pl.completion_nonce, pl.completion_ciphertext\n",
)


class _Out:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = path.open("w", encoding="utf-8", newline="")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> None:
        data = text.encode()
        self.handle.write(text)
        self.digest.update(data)
        self.size += len(data)

    def close(self, rows: int) -> WrittenFile:
        self.handle.close()
        return WrittenFile(self.path.name, rows, self.digest.hexdigest(), self.size)


class _Line:
    """A csv.writer target that hands each formatted line to ``_Out`` (hashing as it goes)."""

    def __init__(self, out: _Out) -> None:
        self.out = out

    def write(self, text: str) -> None:
        self.out.write(text)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"  # as PostgreSQL's COPY writes booleans in the other files
    return value


async def write_payloads(
    conn: asyncpg.Connection, scope: ExportScope, out: Path, opener: PayloadOpener | None
) -> tuple[WrittenFile, WrittenFile]:
    query = replace(PAYLOADS, sql=_SEALED).ordered(scope)
    jsonl, csv_out = _Out(out / "payloads.jsonl"), _Out(out / "payloads.csv")
    writer = csv.writer(_Line(csv_out), lineterminator="\n")
    writer.writerow(COLUMNS)
    rows = 0
    try:
        async with conn.transaction(readonly=True):
            async for row in conn.cursor(query, prefetch=500):
                texts = await opener(row["request_id"], row) if opener and row["sealed"] else None
                record = {c: row[c] for c in COLUMNS[:8]}
                record["readable"] = texts is not None
                record["prompt"], record["completion"] = texts if texts else (None, None)
                jsonl.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
                writer.writerow([_csv_value(record[c]) for c in COLUMNS])
                rows += 1
    finally:
        done = jsonl.close(rows), csv_out.close(rows)
    return done
