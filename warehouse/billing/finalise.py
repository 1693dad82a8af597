"""Finalise a closed month: each customer's draft invoice from the marts becomes an immutable
snapshot in the raw vault (hub_invoice, lnk_invoice_customer, sat_invoice_snapshot), numbered
from a gap-free per-issuer sequence.

Why it is safe to press "re-run": everything happens in one transaction under an advisory lock
per issuer, so two runs take turns; invoices already finalised are skipped (and reported as
such); a number is taken only in the transaction that writes its snapshot, so a failed run
leaves no gap. The refusals come first: a month still inside its grace period, unpriced usage
(it would bill as $0), and marts that disagree with the raw vault (stale or wrong dbt build).

``content_hash`` is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of
``{"header": {...}, "lines": [...]}`` exactly as stored, so anyone can verify a snapshot.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.billing.periods import Period
from warehouse.billing.reconcile import Reconciliation, Unpriced, reconcile, unpriced_usage
from warehouse.loader import hub_or_link_insert, load_turn, sat_insert
from warehouse.tables import SatSpec

SOURCE = "billing-run"
NUMBER_PREFIX = "INV"
_LOCK_NAMESPACE = b"onevault:invoice-numbers:"

LINE_COLUMNS = (
    "line_no",
    "line_type",
    "charge_class",
    "description",
    "provider",
    "model",
    "quantity",
    "unit",
    "input_tokens",
    "output_tokens",
    "provider_cost",
    "markup",
    "amount_exact",
    "amount",
    "currency",
    "correction_of_period",
)


class BillingError(RuntimeError):
    """A month that must not be finalised as it stands; the message says why and what to do."""


class MonthStillOpen(BillingError):
    pass


class UnpricedUsage(BillingError):
    def __init__(self, period: Period, found: list[Unpriced]) -> None:
        self.found = found
        listed = "; ".join(map(str, found))
        super().__init__(
            f"{period}: {sum(u.events for u in found)} cost event(s) have no price ({listed}). "
            "They would bill as 0.00: add the model's price (ONEVAULT_PRICES_FILE, with valid_from) "
            "and re-cost, then run billing again. Finalisation blocked."
        )


class ReconciliationError(BillingError):
    def __init__(self, period: Period, bad: list[Reconciliation]) -> None:
        self.bad = bad
        listed = "; ".join(f"{r.customer}: {', '.join(r.problems)}" for r in bad)
        super().__init__(
            f"{period}: invoices do not reconcile with the raw vault ({listed}). "
            "Rebuild the month's marts (dbt) and run billing again. Finalisation blocked."
        )


@dataclass(frozen=True, slots=True)
class FinalisedInvoice:
    invoice_id: str
    customer: str
    invoice_number: str
    currency: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    lines: int
    content_hash: str  # hex
    issued_ts: datetime
    new: bool  # written by this run (False: it was already finalised)


@dataclass(slots=True)
class FinaliseResult:
    period: Period
    invoices: list[FinalisedInvoice] = field(default_factory=list)

    @property
    def written(self) -> list[FinalisedInvoice]:
        return [i for i in self.invoices if i.new]

    @property
    def already(self) -> list[FinalisedInvoice]:
        return [i for i in self.invoices if not i.new]

    @property
    def noop(self) -> bool:
        return not self.written

    def summary(self) -> str:
        if not self.invoices:
            return f"{self.period}: no invoices to finalise (no usage or subscriptions)"
        if self.noop:
            return (
                f"{self.period}: already finalised ({len(self.already)} invoice(s)); "
                "nothing changed — finalised invoices never change"
            )
        text = f"{self.period}: finalised {len(self.written)} invoice(s)"
        if self.already:
            text += f", {len(self.already)} were already final and left unchanged"
        return text


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money never goes through a float
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_value)


def content_hash(header: dict[str, Any], lines: list[dict[str, Any]]) -> bytes:
    return hashlib.sha256(canonical_json({"header": header, "lines": lines}).encode()).digest()


def snapshot_header(snapshot: asyncpg.Record | dict[str, Any], invoice_id: str) -> dict[str, Any]:
    """The hashed header of a stored snapshot (what ``content_hash`` covers besides the lines)."""
    return {
        "invoice_id": invoice_id,
        "invoice_number": snapshot["invoice_number"],
        "issuer": snapshot["issuer"],
        "customer": snapshot["customer_bk"],
        "period_start": _json_value(snapshot["period_start"]),
        "period_end": _json_value(snapshot["period_end"]),
        "currency": snapshot["currency"],
        "subtotal": _json_value(snapshot["subtotal"]),
        "tax": _json_value(snapshot["tax"]),
        "total": _json_value(snapshot["total"]),
        "issued_ts": _json_value(snapshot["issued_ts"]),
    }


def issuer_lock_id(issuer: str) -> int:
    return int.from_bytes(hashlib.sha256(_LOCK_NAMESPACE + issuer.encode()).digest()[:8], "big", signed=True)


FINALISED = """
select h.invoice_bk, s.*
from raw_vault.sat_invoice_snapshot s join raw_vault.hub_invoice h using (invoice_hk)
where s.status = 'finalised' and s.period_start = $1
order by h.invoice_bk, s.load_dts
"""


def _finalised(row: asyncpg.Record, *, new: bool) -> FinalisedInvoice:
    return FinalisedInvoice(
        invoice_id=row["invoice_bk"],
        customer=row["customer_bk"],
        invoice_number=row["invoice_number"],
        currency=row["currency"],
        subtotal=row["subtotal"],
        tax=row["tax"],
        total=row["total"],
        lines=len(json.loads(row["lines"])),
        content_hash=row["content_hash"].hex(),
        issued_ts=row["issued_ts"],
        new=new,
    )


async def finalise_month(
    pool: asyncpg.Pool,
    month: str | Period,
    *,
    issuer: str,
    grace_s: float,
    now: datetime | None = None,
) -> FinaliseResult:
    """Write every not-yet-finalised invoice of ``month`` into the raw vault, or refuse."""
    period = month if isinstance(month, Period) else Period.of(month)
    now = now or datetime.now(UTC)
    if now < period.closes_at(grace_s):
        raise MonthStillOpen(
            f"{period} is still open: it closes for billing at "
            f"{period.closes_at(grace_s):%Y-%m-%d %H:%M} UTC ({grace_s:g} s grace after month end, "
            "ONEVAULT_BILLING_GRACE_S) so late events can land first. Not finalising an open month."
        )
    # The loaders' turn first (see ``load_turn``): no load is in flight while the month is read,
    # and every later load is stamped after this transaction's ``now()`` (``finalised_at``).
    async with pool.acquire() as conn, load_turn(conn), conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", issuer_lock_id(issuer))
        done = {r["invoice_bk"]: r for r in await conn.fetch(FINALISED, period.start)}
        drafts = await conn.fetch(
            "select * from marts.invoices where billing_period_start = $1 order by customer_slug",
            period.start,
        )
        result = FinaliseResult(period, [_finalised(r, new=False) for r in done.values()])
        pending = [d for d in drafts if d["invoice_id"] not in done]
        if not pending:
            return result
        customers = {d["customer_slug"] for d in pending}
        unpriced = [u for u in await unpriced_usage(conn, period) if u.customer in customers]
        if unpriced:
            raise UnpricedUsage(period, unpriced)
        bad = [r for r in await reconcile(conn, period) if not r.ok and r.customer in customers]
        if bad:
            raise ReconciliationError(period, bad)
        issued = await conn.fetchval("select now()")
        taken = await conn.fetchval(
            "select count(*) from raw_vault.sat_invoice_snapshot "
            "where status = 'finalised' and issuer = $1 and record_source = $2",
            issuer,
            SOURCE,
        )
        batch = VaultBatch()
        for number, draft in enumerate(pending, start=taken + 1):
            lines = [
                {c: _json_value(line[c]) for c in LINE_COLUMNS}
                for line in await conn.fetch(
                    "select * from marts.invoice_lines where invoice_id = $1 order by line_no",
                    draft["invoice_id"],
                )
            ]
            snapshot = {
                "invoice_number": f"{NUMBER_PREFIX}-{number:06d}",
                "issuer": issuer,
                "customer_bk": draft["customer_slug"],
                "period_start": period.start,
                "period_end": period.end,
                "currency": draft["currency"],
                "subtotal": draft["subtotal"],
                "tax": draft["tax"],
                "total": draft["total"],
                "issued_ts": issued,
            }
            digest = content_hash(snapshot_header(snapshot, draft["invoice_id"]), lines)
            invoice_hk = batch.hub(t.HUB_INVOICE, draft["invoice_id"], record_source=SOURCE, cache=False)
            customer_hk = batch.hub(t.HUB_CUSTOMER, draft["customer_slug"], record_source=SOURCE)
            batch.link(
                t.LNK_INVOICE_CUSTOMER,
                (invoice_hk, customer_hk),
                (draft["invoice_id"], draft["customer_slug"]),
                record_source=SOURCE,
            )
            values = {
                **snapshot,
                "status": "finalised",
                "lines": canonical_json(lines),
                "content_hash": digest,
            }
            batch.sat(
                t.SAT_INVOICE_SNAPSHOT,
                invoice_hk,
                t.SAT_INVOICE_SNAPSHOT.row(**values),
                record_source=SOURCE,
            )
        await _write(conn, batch)
        written = {r["invoice_bk"]: r for r in await conn.fetch(FINALISED, period.start)}
        result.invoices += [_finalised(written[d["invoice_id"]], new=True) for d in pending]
        result.invoices.sort(key=lambda i: i.invoice_id)
        return result


async def _write(conn: asyncpg.Connection, batch: VaultBatch) -> None:
    """Insert a batch on *this* connection (inside the numbering transaction), with the
    loader's own statements: hubs/links by key, satellites only when the hash diff changed."""
    for spec, rows in batch.tables():
        tmp = f"ov_fin_{spec.name}"
        columns = list(spec.copy_columns if isinstance(spec, SatSpec) else spec.columns)
        await conn.execute(
            f"create temp table {tmp} on commit drop as "
            f"select {', '.join(columns)} from {t.SCHEMA}.{spec.name} with no data"
        )
        await conn.copy_records_to_table(tmp, records=rows, columns=columns)
        if isinstance(spec, SatSpec):
            types = await conn.fetch(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = $1 and table_name = $2",
                t.SCHEMA,
                spec.name,
            )
            await conn.execute(sat_insert(spec, tmp, {r["column_name"]: r["data_type"] for r in types}))
        else:
            await conn.execute(hub_or_link_insert(spec, tmp))
