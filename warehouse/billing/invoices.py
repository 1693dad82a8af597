"""Reading one invoice, finalised (the raw-vault snapshot) or draft (the marts), as a document
the renderers (terminal, PDF, CSV) share. A finalised snapshot wins: it never changes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from warehouse.billing.periods import Period

_SNAPSHOT = """
select h.invoice_bk, s.*
from raw_vault.sat_invoice_snapshot s join raw_vault.hub_invoice h using (invoice_hk)
where s.status = 'finalised' and s.period_start = $1 and ($2::text is null or s.customer_bk = $2)
order by h.invoice_bk, s.load_dts
"""

_DISPLAY_NAME = """
select distinct on (c.customer_bk) c.customer_bk, s.display_name
from raw_vault.hub_customer c join raw_vault.sat_customer_config s using (customer_hk)
where c.customer_bk = any($1::text[])
order by c.customer_bk, s.load_dts desc
"""


@dataclass(slots=True)
class InvoiceDoc:
    invoice_id: str
    customer: str
    customer_name: str
    period: Period
    status: str  # finalised | draft
    currency: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    tax_rate_pct: Decimal | None
    lines: list[dict[str, Any]] = field(default_factory=list)  # invoice_lines columns, money as text
    invoice_number: str | None = None
    issuer: str | None = None
    issued_ts: datetime | None = None
    content_hash: str | None = None

    @property
    def file_stem(self) -> str:
        return f"{self.customer}-{self.period.key}"


async def _marts_ready(conn: asyncpg.Connection | asyncpg.Pool) -> bool:
    return bool(await conn.fetchval("select to_regclass('marts.invoices') is not null"))


async def invoices_for(
    conn: asyncpg.Connection | asyncpg.Pool, month: str | Period, customer: str | None = None
) -> list[InvoiceDoc]:
    """The month's invoices (one customer's if given): finalised snapshots, else marts drafts."""
    period = month if isinstance(month, Period) else Period.of(month)
    docs: dict[str, InvoiceDoc] = {}
    rates: dict[str, Decimal] = {}
    drafts: list[asyncpg.Record] = []
    if await _marts_ready(conn):
        drafts = await conn.fetch(
            "select * from marts.invoices where billing_period_start = $1 "
            "and ($2::text is null or customer_slug = $2) order by customer_slug",
            period.start,
            customer,
        )
        rates = {d["invoice_id"]: d["tax_rate_pct"] for d in drafts}
    for s in await conn.fetch(_SNAPSHOT, period.start, customer):
        docs.setdefault(
            s["invoice_bk"],
            InvoiceDoc(
                invoice_id=s["invoice_bk"],
                customer=s["customer_bk"],
                customer_name=s["customer_bk"],
                period=period,
                status="finalised",
                currency=s["currency"],
                subtotal=s["subtotal"],
                tax=s["tax"],
                total=s["total"],
                tax_rate_pct=rates.get(s["invoice_bk"]),
                lines=json.loads(s["lines"]),
                invoice_number=s["invoice_number"],
                issuer=s["issuer"],
                issued_ts=s["issued_ts"],
                content_hash=s["content_hash"].hex() if s["content_hash"] else None,
            ),
        )
    for d in drafts:
        if d["invoice_id"] in docs:
            continue
        lines = await conn.fetch(
            "select * from marts.invoice_lines where invoice_id = $1 order by line_no", d["invoice_id"]
        )
        docs[d["invoice_id"]] = InvoiceDoc(
            invoice_id=d["invoice_id"],
            customer=d["customer_slug"],
            customer_name=d["customer_slug"],
            period=period,
            status="draft",
            currency=d["currency"],
            subtotal=d["subtotal"],
            tax=d["tax"],
            total=d["total"],
            tax_rate_pct=d["tax_rate_pct"],
            lines=[{k: _text(v) for k, v in dict(r).items()} for r in lines],
        )
    names = {
        r["customer_bk"]: r["display_name"]
        for r in await conn.fetch(_DISPLAY_NAME, list({d.customer for d in docs.values()}))
    }
    for doc in docs.values():
        doc.customer_name = names.get(doc.customer) or doc.customer
    return sorted(docs.values(), key=lambda d: d.customer)


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def money(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def quantity(line: dict[str, Any]) -> str:
    q = Decimal(line.get("quantity") or 0)
    return f"{q:,.0f}" if q == q.to_integral_value() else f"{q:,.2f}"


def rate_label(doc: InvoiceDoc) -> str:
    return f"Tax ({doc.tax_rate_pct.normalize():f}%)" if doc.tax_rate_pct is not None else "Tax"


def render_text(doc: InvoiceDoc) -> str:
    """The invoice for a terminal: header, one row per line, totals, and what proves it."""
    title = f"INVOICE {doc.invoice_number}" if doc.invoice_number else "DRAFT INVOICE (not finalised)"
    out = [
        f"{title}    {doc.issuer or ''}".rstrip(),
        f"Customer  {doc.customer_name} ({doc.customer})",
        f"Period    {doc.period.start} – {doc.period.end} (exclusive)    status: {doc.status}",
    ]
    if doc.issued_ts:
        out.append(f"Issued    {doc.issued_ts:%Y-%m-%d %H:%M} UTC")
    out.append("")
    out.append(f"{'#':>3}  {'Description':<46} {'Quantity':>14} {'Unit':<8} {'Amount':>12}")
    for line in doc.lines:
        desc = str(line.get("description") or line.get("line_type"))
        if line.get("charge_class") == "correction":
            desc = f"[correction {str(line.get('correction_of_period') or '')[:7]}] {desc}"
        out.append(
            f"{line['line_no']:>3}  {desc[:46]:<46} {quantity(line):>14} {line.get('unit') or '':<8} "
            f"{money(line['amount']):>12}"
        )
    width = 3 + 2 + 46 + 1 + 14 + 1 + 8 + 1 + 12
    for label, value in (("Subtotal", doc.subtotal), (rate_label(doc), doc.tax), ("Total", doc.total)):
        text = f"{label}  {doc.currency} {money(value):>12}"
        out.append(f"{text:>{width}}")
    if doc.content_hash:
        out.append(f"\ncontent hash (sha256): {doc.content_hash}")
    return "\n".join(out)
