"""``GET /v1/usage``: the calling key's customer's usage by day and model, from the marts.

The gateway reads what dbt built (``marts.spend_daily``) rather than the raw vault, so these
figures are the ones on the invoice and in BI. Every query is filtered by the authenticated
customer; there is no parameter that names another. Money is a decimal string, as everywhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request

from gateway.api.deps import principal
from gateway.auth.principal import Principal
from gateway.errors import ApiError

router = APIRouter()
MAX_DAYS = 366
_MONEY = ("provider_cost", "markup", "customer_cost", "baseline_cost", "savings")
_COUNTS = ("requests", "input_tokens", "output_tokens", "total_tokens")

_USAGE = """
select usage_date, provider, model,
       sum(requests)::bigint as requests, sum(input_tokens)::bigint as input_tokens,
       sum(output_tokens)::bigint as output_tokens, sum(total_tokens)::bigint as total_tokens,
       sum(provider_cost) as provider_cost, sum(markup) as markup, sum(customer_cost) as customer_cost,
       sum(baseline_cost) as baseline_cost, sum(savings) as savings
from marts.spend_daily
where customer_slug = $1 and usage_date between $2 and $3
group by usage_date, provider, model
order by usage_date, provider nulls last, model nulls last
"""


async def require_marts(pool: asyncpg.Pool, *tables: str) -> None:
    """503 with what to do when dbt has not built the marts this endpoint reads."""
    missing = await pool.fetchval(
        "select count(*) from unnest($1::text[]) t where to_regclass('marts.' || t) is null", list(tables)
    )
    if missing:
        raise ApiError(
            503,
            "marts_not_built",
            "Usage and billing come from the warehouse marts, which are not built yet: "
            "run `onevault dbt build` (or the Dagster billing run), then retry.",
        )


def money(value: Decimal | None) -> str:
    return str(value if value is not None else Decimal(0))


def _row(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "date": r["usage_date"].isoformat(),
        "provider": r["provider"],
        "model": r["model"],
        **{k: r[k] for k in _COUNTS},
        **{k: money(r[k]) for k in _MONEY},
    }


@router.get("/v1/usage")
async def usage(
    request: Request,
    who: Principal = Depends(principal),
    start: date | None = Query(
        None, alias="from", description="First day (UTC), default the 1st of this month."
    ),
    end: date | None = Query(None, alias="to", description="Last day (UTC, inclusive), default today."),
) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    end = end or today
    start = start or end.replace(day=1)
    if start > end:
        raise ApiError(400, "invalid_range", "'from' must not be after 'to'.")
    if end - start > timedelta(days=MAX_DAYS):
        raise ApiError(400, "invalid_range", f"Ask for at most {MAX_DAYS} days at a time.")
    pool: asyncpg.Pool = request.app.state.pool
    await require_marts(pool, "spend_daily")
    rows = await pool.fetch(_USAGE, who.customer, start, end)
    as_of = await pool.fetchval(
        "select max(loaded_at) from marts.spend_daily where customer_slug = $1", who.customer
    )
    data = [_row(r) for r in rows]
    totals: dict[str, Any] = {k: sum(r[k] for r in rows) for k in _COUNTS}
    totals.update({k: money(sum((r[k] for r in rows), Decimal(0))) for k in _MONEY})
    return {
        "object": "usage",
        "customer": who.customer,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "data_as_of": as_of.isoformat() if as_of else None,
        "data": data,
        "totals": totals,
    }
