"""``GET /v1/billing``: the calling key's customer's invoices — this month's draft and past
invoices with their lines — as the marts ``invoices`` / ``invoice_lines`` hold them (a finalised
month there reproduces the billing run's snapshot), and its prepaid credit grants with their
balance and consumption (mart ``credit_balances``, as of the last dbt run; the live figures are
``onevault credits show``). Filtered by the authenticated customer only.
"""

from __future__ import annotations

import json
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
_GRANTS = """
select * from marts.credit_balances
where customer_slug = $1
order by granted_at, grant_id
"""
_GRANT = (
    "grant_id", "status", "currency", "amount", "used", "remaining", "priority", "scope", "effective_at",
    "expires_at", "description", "granted_at", "voided_at", "first_used_period", "last_used_period",
)  # fmt: skip
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
    """Money and quantities as fixed-point decimal strings (never ``0E-12``), dates and times as
    ISO 8601."""
    if isinstance(value, Decimal):
        return format(value, "f")
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
        "credits": await _credits(pool, who.customer),
    }


def _months(value: Any) -> dict[str, str]:
    return value if isinstance(value, dict) else json.loads(value or "{}")


async def _credits(pool: asyncpg.Pool, customer: str) -> dict[str, Any] | None:
    """The customer's grants and what they have left (None until dbt has built the mart)."""
    if await pool.fetchval("select to_regclass('marts.credit_balances')") is None:
        return None
    rows = await pool.fetch(_GRANTS, customer)
    balance: dict[str, Decimal] = {}
    for r in rows:
        balance[r["currency"]] = balance.get(r["currency"], Decimal(0)) + r["remaining"]
    return {
        "balance": {cur: _json(amount) for cur, amount in sorted(balance.items())},
        "grants": [
            {**{k: _json(r[k]) for k in _GRANT}, "used_by_month": _months(r["used_by_month"])} for r in rows
        ],
    }
