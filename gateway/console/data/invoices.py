"""Invoices page: the current draft and the finalised invoices of the scope, and one invoice
with its lines (the document the PDF and CSV renderers take).

Drafts come from marts.invoices / invoice_lines (index customer_slug, billing_period_start);
finalised invoices from the vault's snapshots (lnk_invoice_customer by customer), which win
over the marts as they never change. One invoice is read through
warehouse.billing.invoices.invoices_for, the reader the CLI and the billing run's documents use,
after a scoped check that it is the scope's: another customer's invoice id finds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from gateway.console.data.relations import exist
from gateway.console.data.scope import Scope, ScopedQuery
from warehouse.billing.invoices import InvoiceDoc, invoices_for
from warehouse.billing.periods import Period


@dataclass(frozen=True, slots=True)
class InvoiceSummary:
    invoice_id: str  # '<customer>/<yyyy-mm>'
    customer_slug: str
    period_start: date
    period_end: date  # exclusive
    status: str  # draft | finalised
    invoice_number: str | None
    currency: str | None
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    line_count: int
    finalised_at: datetime | None


_SNAPSHOTS = """
select distinct on (h.invoice_bk) h.invoice_bk as invoice_id, s.customer_bk as customer_slug,
       s.period_start, s.period_end, s.status, s.invoice_number, s.currency, s.subtotal, s.tax,
       s.total, jsonb_array_length(s.lines) as line_count, s.load_dts as finalised_at
from raw_vault.lnk_invoice_customer l
join raw_vault.hub_invoice h on h.invoice_hk = l.invoice_hk
join raw_vault.sat_invoice_snapshot s on s.invoice_hk = l.invoice_hk
where {scoped} and s.status = 'finalised' {one}
order by h.invoice_bk, s.load_dts
"""

_DRAFTS = """
select invoice_id, customer_slug, billing_period_start as period_start,
       billing_period_end as period_end, status, invoice_number, currency, subtotal, tax, total,
       line_count::int as line_count, finalised_at
from marts.invoices
where {scoped} {one}
"""


async def invoices(pool: asyncpg.Pool, scope: Scope) -> list[InvoiceSummary]:
    """Every invoice of the scope, newest period first (drafts and finalised)."""
    return await _summaries(pool, scope, None)


async def _summaries(pool: asyncpg.Pool, scope: Scope, invoice_id: str | None) -> list[InvoiceSummary]:
    found: dict[str, InvoiceSummary] = {}
    q = ScopedQuery(scope)
    one = f"and h.invoice_bk = {q.arg(invoice_id)}" if invoice_id else ""
    for r in await q.fetch(pool, _SNAPSHOTS.format(scoped=q.by_hk("l.customer_hk"), one=one)):
        found[r["invoice_id"]] = InvoiceSummary(**dict(r))
    if await exist(pool, "marts.invoices"):
        q = ScopedQuery(scope)
        one = f"and invoice_id = {q.arg(invoice_id)}" if invoice_id else ""
        for r in await q.fetch(pool, _DRAFTS.format(scoped=q.by_slug("customer_slug"), one=one)):
            found.setdefault(r["invoice_id"], InvoiceSummary(**dict(r)))
    return sorted(found.values(), key=lambda s: (s.period_start, s.customer_slug), reverse=True)


async def invoice(pool: asyncpg.Pool, scope: Scope, invoice_id: str) -> InvoiceDoc | None:
    """One invoice of the scope with its lines, or None (also when it is another customer's)."""
    summaries = await _summaries(pool, scope, invoice_id)
    if not summaries:
        return None
    summary = summaries[0]
    docs = await invoices_for(pool, Period.of(summary.period_start), summary.customer_slug)
    return next((d for d in docs if d.invoice_id == summary.invoice_id), None)
