"""``GET /v1/billing``: the calling key's customer's invoices — this month's draft and past
invoices with their lines — as the marts ``invoices`` / ``invoice_lines`` hold them (a finalised
month there reproduces the billing run's snapshot). Filtered by the authenticated customer only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request

from gateway.api.deps import principal
from gateway.api.usage import require_marts
from gateway.auth.principal import Principal

router = APIRouter()

_INVOICES = """
select * from marts.invoices
where customer_slug = $1
order by billing_period_start desc
limit $2
"""
_LINES = """
select * from marts.invoice_lines
where customer_slug = $1 and invoice_id = any($2::text[])
order by invoice_id, line_no
"""
_HEADER = (
    "invoice_id", "status", "currency", "line_count", "usage_amount", "subtotal", "tax_rate_pct", "tax",
    "total", "invoice_number", "finalised_at", "billing_period_start", "billing_period_end",
)  # fmt: skip
_LINE = (
    "line_no", "line_type", "charge_class", "description", "provider", "model", "quantity", "unit",
    "input_tokens", "output_tokens", "provider_cost", "markup", "amount_exact", "amount", "currency",
    "correction_of_period",
)  # fmt: skip


def _json(value: Any) -> Any:
    """Money and quantities as decimal strings, dates and times as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _invoice(row: asyncpg.Record, lines: list[asyncpg.Record]) -> dict[str, Any]:
    return {
        **{k: _json(row[k]) for k in _HEADER},
        "lines": [{k: _json(line[k]) for k in _LINE} for line in lines],
    }


@router.get("/v1/billing")
async def billing(
    request: Request,
    who: Principal = Depends(principal),
    months: int = Query(12, ge=1, le=120, description="How many months of invoices, newest first."),
) -> dict[str, Any]:
    pool: asyncpg.Pool = request.app.state.pool
    await require_marts(pool, "invoices", "invoice_lines")
    headers = await pool.fetch(_INVOICES, who.customer, months)
    lines = await pool.fetch(_LINES, who.customer, [h["invoice_id"] for h in headers])
    by_invoice: dict[str, list[asyncpg.Record]] = {}
    for line in lines:
        by_invoice.setdefault(line["invoice_id"], []).append(line)
    this_month = datetime.now(UTC).date().replace(day=1)
    invoices = [_invoice(h, by_invoice.get(h["invoice_id"], [])) for h in headers]
    current = next(
        (i for i, h in zip(invoices, headers, strict=True) if h["billing_period_start"] == this_month), None
    )
    return {
        "object": "billing",
        "customer": who.customer,
        "current": current,
        "invoices": [i for i in invoices if i is not current],
    }
