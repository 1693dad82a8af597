"""The per-customer chain of exports, kept in the insert-only vault (migration 011).

Each export is a hub row (its id), linked to the customer, with one satellite row holding its
manifest's SHA-256 and the previous one's. The head of a customer's chain is its latest row.
Exports of one customer take an advisory lock from reading the head until recording the new
one, so two concurrent exports cannot both claim the same predecessor (a fork).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.hashing import hash_key
from warehouse.loader import VaultLoader

RECORD_SOURCE = "audit-export"

_HEAD = """
select encode(s.manifest_sha256, 'hex') as manifest_sha256, h.audit_export_bk as export_id
from raw_vault.lnk_audit_export_customer l
join raw_vault.hub_audit_export h on h.audit_export_hk = l.audit_export_hk
join raw_vault.sat_audit_export_manifest s on s.audit_export_hk = l.audit_export_hk
where l.customer_hk = $1
order by s.load_dts desc, h.audit_export_bk desc
limit 1
"""

_RECORDED = """
select s.customer_bk, encode(s.manifest_sha256, 'hex') as manifest_sha256,
       encode(s.previous_manifest_sha256, 'hex') as previous_manifest_sha256, s.load_dts
from raw_vault.hub_audit_export h
join raw_vault.sat_audit_export_manifest s on s.audit_export_hk = h.audit_export_hk
where h.audit_export_bk = $1
order by s.load_dts desc limit 1
"""

_PREDECESSOR = """
select encode(s.manifest_sha256, 'hex')
from raw_vault.lnk_audit_export_customer l
join raw_vault.hub_audit_export h on h.audit_export_hk = l.audit_export_hk
join raw_vault.sat_audit_export_manifest s on s.audit_export_hk = l.audit_export_hk
where l.customer_hk = $1 and (s.load_dts, h.audit_export_bk) < ($2, $3)
order by s.load_dts desc, h.audit_export_bk desc
limit 1
"""


@dataclass(frozen=True, slots=True)
class RecordedExport:
    export_id: str
    customer: str
    period_from: date
    period_to: date
    as_of: datetime
    manifest_sha256: str
    previous_manifest_sha256: str | None
    signing_key_id: str
    requests: int
    customer_cost: Decimal
    software_version: str
    changed_by: str


def _lock_id(customer: str) -> int:
    return int.from_bytes(
        hashlib.sha256(b"audit-export:" + customer.encode()).digest()[:8], "big", signed=True
    )


@asynccontextmanager
async def customer_lock(conn: asyncpg.Connection, customer: str) -> AsyncIterator[None]:
    await conn.execute("select pg_advisory_lock($1)", _lock_id(customer))
    try:
        yield
    finally:
        await conn.execute("select pg_advisory_unlock($1)", _lock_id(customer))


async def chain_head(conn: asyncpg.Connection | asyncpg.Pool, customer: str) -> str | None:
    """The SHA-256 (hex) of the customer's latest export manifest, None before the first."""
    row = await conn.fetchrow(_HEAD, hash_key(customer))
    return row["manifest_sha256"] if row else None


async def recorded(conn: asyncpg.Connection | asyncpg.Pool, export_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(_RECORDED, export_id)


async def predecessor(
    conn: asyncpg.Connection | asyncpg.Pool, customer: str, load_dts: datetime, export_id: str
) -> str | None:
    """The manifest hash recorded just before this export for the customer (what it must name)."""
    return await conn.fetchval(_PREDECESSOR, hash_key(customer), load_dts, export_id)


async def record_export(pool: asyncpg.Pool, export: RecordedExport) -> None:
    batch = VaultBatch()
    hk = batch.hub(t.HUB_AUDIT_EXPORT, export.export_id, record_source=RECORD_SOURCE, cache=False)
    customer = batch.hub(t.HUB_CUSTOMER, export.customer, record_source=RECORD_SOURCE)
    batch.link(
        t.LNK_AUDIT_EXPORT_CUSTOMER,
        (hk, customer),
        (export.export_id, export.customer),
        record_source=RECORD_SOURCE,
    )
    batch.sat(
        t.SAT_AUDIT_EXPORT_MANIFEST,
        hk,
        t.SAT_AUDIT_EXPORT_MANIFEST.row(
            changed_by=export.changed_by,
            customer_bk=export.customer,
            period_from=export.period_from,
            period_to=export.period_to,
            as_of=export.as_of,
            manifest_sha256=bytes.fromhex(export.manifest_sha256),
            previous_manifest_sha256=(
                bytes.fromhex(export.previous_manifest_sha256) if export.previous_manifest_sha256 else None
            ),
            signing_key_id=export.signing_key_id,
            requests=export.requests,
            customer_cost=export.customer_cost,
            software_version=export.software_version,
        ),
        record_source=RECORD_SOURCE,
    )
    await VaultLoader(pool).load(batch)
