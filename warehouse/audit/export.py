"""Export one customer's audit record for a period, as the vault stood at ``as_of``.

Steps: settle ``as_of`` (wait until every transaction that could still commit rows stamped at or
before it has ended, so a later export with the same ``as_of`` sees exactly the same rows), take
the customer's chain lock, stream every record kind to JSON Lines and CSV through ``COPY``
(two connections at a time; the requests, nearly all the work, once for both formats and the
totals, as two half-period parts in parallel: ``requests_pass``), write the FOCUS chargeback
file and the records of processing, then the checksums, the manifest naming the previous
export, its Ed25519 signature, and finally record the export — the new chain head — in the vault.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from warehouse.audit import chain, manifest
from warehouse.audit.chargeback import FILE as CHARGEBACK_FILE
from warehouse.audit.chargeback import write_chargeback
from warehouse.audit.manifest import FileEntry
from warehouse.audit.params import ExportScope, utc_text
from warehouse.audit.payloads import PayloadOpener, write_payloads
from warehouse.audit.processing import records_of_processing
from warehouse.audit.queries import PAYLOADS, RECORD_KINDS, REQUESTS, RecordKind
from warehouse.audit.requests_pass import RequestsExport
from warehouse.audit.signing import SigningKey
from warehouse.audit.writers import WrittenFile, tune, write_csv, write_jsonl

PROCESSING_FILE = "records_of_processing.json"

# Transactions that hold a transaction id (writers) in this database, started at or before $1.
_IN_FLIGHT = """
select count(*) from pg_stat_activity
where datname = current_database() and pid <> pg_backend_pid()
  and backend_xid is not null and xact_start <= $1
"""


class ExportError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ExportResult:
    out: Path
    export_id: str
    manifest_sha256: str
    previous_manifest_sha256: str | None
    files: list[FileEntry]
    totals: dict[str, Any]
    as_of: datetime
    settled: bool


def prepare_directory(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ExportError(f"{out} is not empty: an export is written into a new directory")


async def settle(pool: asyncpg.Pool, as_of: datetime, timeout_s: float = 30.0) -> bool:
    """Wait until no writer that started at or before ``as_of`` is still open (its rows, stamped
    with its start time, would appear later and make a re-export differ). False on timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while await pool.fetchval(_IN_FLIGHT, as_of):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _entry(
    written: WrittenFile, kind: str, fmt: str, period_column: str | None, description: str
) -> FileEntry:
    return FileEntry(
        written.name, kind, fmt, written.rows, written.sha256, written.bytes, period_column, description
    )


def _write_document(out: Path, name: str, data: bytes, kind: str, fmt: str, description: str) -> FileEntry:
    (out / name).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    return FileEntry(name, kind, fmt, None, digest, len(data), None, description)


async def export_customer(
    pool: asyncpg.Pool,
    scope: ExportScope,
    out: Path,
    key: SigningKey,
    *,
    created_by: str,
    issuer: str = "OneVault",
    include_payloads: bool = False,
    payload_opener: PayloadOpener | None = None,
    settle_timeout_s: float = 30.0,
) -> ExportResult:
    """Write the export into ``out`` (created; must be empty) and record it as the chain head.

    ``include_payloads`` adds the payload files (digests); with ``payload_opener`` also the texts
    that are still readable."""
    prepare_directory(out)
    settled = await settle(pool, scope.as_of, settle_timeout_s)
    async with pool.acquire() as lock_conn, chain.customer_lock(lock_conn, scope.customer):
        previous = await chain.chain_head(lock_conn, scope.customer)
        kinds: list[RecordKind] = list(RECORD_KINDS)
        jobs: list[tuple[RecordKind, str]] = [
            (k, f) for k in kinds if k is not REQUESTS for f in ("jsonl", "csv")
        ]
        written: dict[tuple[str, str], WrittenFile] = {}
        totals_row: dict[str, Any] = {}
        chargeback: list[WrittenFile | None] = []
        queue: asyncio.Queue[Callable[[asyncpg.Connection], Awaitable[None]]] = asyncio.Queue()

        def job(kind: RecordKind, fmt: str) -> Callable[[asyncpg.Connection], Awaitable[None]]:
            async def run(conn: asyncpg.Connection) -> None:
                writer = write_jsonl if fmt == "jsonl" else write_csv
                written[(kind.name, fmt)] = await writer(conn, kind, scope, out)

            return run

        workers = max(1, min(2, pool.get_max_size() - 1))
        requests = RequestsExport(scope, out, parts=workers)

        def requests_part(index: int) -> Callable[[asyncpg.Connection], Awaitable[None]]:
            async def run(conn: asyncpg.Connection) -> None:
                await requests.write_part(conn, index)

            return run

        async def focus(conn: asyncpg.Connection) -> None:
            chargeback.append(await write_chargeback(conn, scope, out))

        processing: dict[str, Any] = {}

        async def records(conn: asyncpg.Connection) -> None:
            processing.update(await records_of_processing(conn, scope, issuer))

        async def payloads(conn: asyncpg.Connection) -> None:
            jsonl, csv = await write_payloads(conn, scope, out, payload_opener)
            written[(PAYLOADS.name, "jsonl")], written[(PAYLOADS.name, "csv")] = jsonl, csv

        for index in range(len(requests.scopes)):  # first: the longest by far, in parallel
            queue.put_nowait(requests_part(index))
        for kind, fmt in jobs:
            queue.put_nowait(job(kind, fmt))
        queue.put_nowait(focus)
        queue.put_nowait(records)
        if include_payloads:
            queue.put_nowait(payloads)
            kinds.append(PAYLOADS)

        async def worker() -> None:
            async with pool.acquire() as conn:
                await tune(conn)
                while not queue.empty():
                    await queue.get_nowait()(conn)

        await asyncio.gather(*(worker() for _ in range(workers)))
        jsonl, csv, sums = requests.finish()
        written[(REQUESTS.name, "jsonl")], written[(REQUESTS.name, "csv")] = jsonl, csv
        totals_row.update(sums.as_row())

        files: list[FileEntry] = []
        for kind in kinds:
            for fmt in ("jsonl", "csv"):
                files.append(
                    _entry(written[(kind.name, fmt)], kind.name, fmt, kind.time_column, kind.description)
                )
        cb = chargeback[0]
        if cb is not None:
            files.append(
                _entry(
                    cb,
                    "chargeback",
                    "csv",
                    "billing_period_start",
                    "FOCUS 1.2 chargeback from marts.chargeback",
                )
            )
            cb_note = f"{CHARGEBACK_FILE}: marts.chargeback as last built by dbt (as_of does not apply)"
        else:
            cb_note = "marts.chargeback does not exist (dbt has not built the marts): no chargeback file"
        files.append(
            _write_document(
                out,
                PROCESSING_FILE,
                manifest.dumps(processing),
                "processing",
                "json",
                "Records of processing (GDPR Art. 30 style), generated from configuration",
            )
        )
        files.append(
            _write_document(
                out,
                manifest.CHECKSUMS,
                manifest.checksums_text(files),
                "checksums",
                "sha256sum",
                "sha256sum -c input for the files above",
            )
        )
        export_id = f"aud_{uuid.uuid4().hex}"
        currency = await _currency(pool, scope)
        totals_doc = {
            "requests": totals_row["requests"],
            "provider_cost": totals_row["provider_cost"],
            "customer_cost": totals_row["customer_cost"],
            "currency": currency,
        }
        doc = manifest.build(
            export_id=export_id,
            customer=scope.customer,
            period=(scope.period_from.isoformat(), scope.period_to.isoformat()),
            as_of=utc_text(scope.as_of),
            created_at=utc_text(datetime.now(UTC)),
            created_by=created_by,
            files=files,
            totals=totals_doc,
            chargeback_note=cb_note,
            previous_manifest_sha256=previous,
            key_id=key.key_id,
            public_key_pem=key.public_pem,
        )
        doc["as_of_settled"] = settled
        body = manifest.dumps(doc)
        (out / manifest.MANIFEST).write_bytes(body)
        (out / manifest.SIGNATURE).write_bytes(key.sign(body))
        digest = hashlib.sha256(body).hexdigest()
        await chain.record_export(
            pool,
            chain.RecordedExport(
                export_id=export_id,
                customer=scope.customer,
                period_from=scope.period_from,
                period_to=scope.period_to,
                as_of=scope.as_of,
                manifest_sha256=digest,
                previous_manifest_sha256=previous,
                signing_key_id=key.key_id,
                requests=int(totals_row["requests"]),
                customer_cost=Decimal(totals_row["customer_cost"]),
                software_version=manifest.software()["version"],
                changed_by=created_by,
            ),
        )
    return ExportResult(out, export_id, digest, previous, files, totals_doc, scope.as_of, settled)


async def _currency(pool: asyncpg.Pool, scope: ExportScope) -> str | None:
    return await pool.fetchval(
        "select currency from raw_vault.sat_customer_config where customer_hk = $1 and load_dts <= $2 "
        "order by load_dts desc limit 1",
        scope.customer_hk,
        scope.as_of,
    )


def load_manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / manifest.MANIFEST).read_text())
