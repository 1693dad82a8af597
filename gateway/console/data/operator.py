"""Operator pages: customers with their status and settings, platform spend by customer, billing
runs (finalised invoice snapshots per month, with a link to the Dagster UI where runs are
watched and re-run), and loader lag and warehouse freshness.

Everything here but ``customers`` is platform-wide and raises PermissionError for a customer
scope; ``customers`` in a customer scope lists that customer only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from gateway.console.data.relations import exist
from gateway.console.data.scope import Scope, ScopedQuery, require_operator
from warehouse.hashing import GHOST_HK


@dataclass(frozen=True, slots=True)
class CustomerView:
    slug: str
    display_name: str | None
    tier: str | None
    status: str | None  # active | suspended
    markup_pct: Decimal | None
    budget_daily: Decimal | None
    budget_monthly: Decimal | None
    retention_mode: str | None
    currency: str | None
    created_at: datetime
    changed_by: str | None
    changed_at: datetime | None


@dataclass(frozen=True, slots=True)
class CustomerSpend:
    customer_slug: str
    requests: int
    failed_requests: int
    provider_cost: Decimal
    markup: Decimal
    customer_cost: Decimal


@dataclass(frozen=True, slots=True)
class BillingRun:
    period_start: date
    invoices: int  # finalised invoices of the month
    total: Decimal  # Σ invoice totals (mixed currencies are summed as they are)
    first_issued_ts: datetime | None
    last_issued_ts: datetime | None
    issuers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BillingRuns:
    runs: tuple[BillingRun, ...]
    dagster_url: str | None  # the Dagster UI's runs page


@dataclass(frozen=True, slots=True)
class LoaderHealth:
    in_process: bool  # the stream loader runs inside this gateway process
    lag_seconds: float | None  # age of the oldest event not yet loaded (None: no loader here)
    loaded_events: int | None
    dead_lettered: int | None
    failures: int | None
    last_error: str | None
    newest_request_ts: datetime | None  # newest request in the raw vault
    bridge_loaded_at: datetime | None  # newest request dbt has built (the business vault)
    marts_built_at: datetime | None  # last spend_daily refresh
    newest_performance_window: datetime | None  # newest provider_performance_5m window


_CUSTOMERS = """
select h.customer_bk as slug, h.load_dts as created_at, c.*
from raw_vault.hub_customer h
left join lateral (
    select s.display_name, s.tier, s.status, s.markup_pct, s.budget_daily, s.budget_monthly,
           s.retention_mode, s.currency, s.changed_by, s.load_dts as changed_at
    from raw_vault.sat_customer_config s
    where s.customer_hk = h.customer_hk order by s.load_dts desc limit 1
) c on true
where {scoped} and h.customer_hk <> {ghost} and c.changed_at is not null
order by h.customer_bk
"""


async def customers(pool: asyncpg.Pool, scope: Scope) -> list[CustomerView]:
    """Customers with their current settings (a customer scope: itself only)."""
    q = ScopedQuery(scope)
    sql = _CUSTOMERS.format(scoped=q.by_hk("h.customer_hk"), ghost=q.arg(GHOST_HK))
    return [CustomerView(**dict(r)) for r in await q.fetch(pool, sql)]


async def platform_spend(pool: asyncpg.Pool, scope: Scope, *, month: date) -> list[CustomerSpend]:
    """Every customer's spend in the month of ``month``, most first (spend_daily_by_model: a
    month of the platform is thousands of rows there)."""
    require_operator(scope)
    first = month.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    if await exist(pool, "marts.spend_daily_by_model"):
        source, condition = "marts.spend_daily_by_model", "usage_date >= {lo} and usage_date < {hi}"
    elif await exist(pool, "marts.spend_monthly"):
        source, condition = "marts.spend_monthly", "usage_month >= {lo} and usage_month < {hi}"
    else:
        return []
    q = ScopedQuery(scope)
    q.platform_wide()
    where = condition.format(lo=q.arg(first), hi=q.arg(after))
    sql = f"""
    select customer_slug, sum(requests)::bigint as requests, sum(failed_requests)::bigint as failed_requests,
           sum(provider_cost) as provider_cost, sum(markup) as markup, sum(customer_cost) as customer_cost
    from {source}
    where {where}
    group by customer_slug
    order by customer_cost desc, customer_slug
    """
    return [CustomerSpend(**dict(r)) for r in await q.fetch(pool, sql)]


async def billing_runs(pool: asyncpg.Pool, scope: Scope, *, dagster_url: str | None = None) -> BillingRuns:
    """Finalised months from the vault's invoice snapshots (what the billing runs wrote)."""
    q = ScopedQuery(scope)
    q.platform_wide()
    rows = await q.fetch(
        pool,
        """
        select period_start, count(distinct invoice_hk)::int as invoices, sum(total) as total,
               min(issued_ts) as first_issued_ts, max(issued_ts) as last_issued_ts,
               array_agg(distinct issuer) filter (where issuer is not null) as issuers
        from raw_vault.sat_invoice_snapshot
        where status = 'finalised'
        group by period_start
        order by period_start desc
        """,
    )
    runs = tuple(
        BillingRun(
            r["period_start"],
            r["invoices"],
            r["total"],
            r["first_issued_ts"],
            r["last_issued_ts"],
            tuple(r["issuers"] or ()),
        )
        for r in rows
    )
    return BillingRuns(runs, f"{dagster_url.rstrip('/')}/runs" if dagster_url else None)


async def loader_health(pool: asyncpg.Pool, scope: Scope, *, loader: Any = None) -> LoaderHealth:
    """The in-process stream loader's lag and counters (``loader``: app.state.loader, or None)
    and how fresh the vault, the business vault and the marts are (each by an index)."""
    q = ScopedQuery(scope)
    q.platform_wide()
    parts = ["(select max(request_ts) from raw_vault.sat_api_request_details) as newest_request_ts"]
    for name, relation, column in (
        ("bridge_loaded_at", "business_vault.bridge_api_request", "loaded_at"),
        ("marts_built_at", "marts.spend_daily", "built_at"),
        ("newest_performance_window", "marts.provider_performance_5m", "window_start"),
    ):
        have = await exist(pool, relation)
        parts.append(
            f"(select max({column}) from {relation}) as {name}" if have else f"null::timestamptz as {name}"
        )
    fresh = await q.fetchrow(pool, "select " + ", ".join(parts))
    assert fresh is not None
    lag = stats = None
    if loader is not None:
        lag = await loader.lag_seconds()
        stats = loader.stats
    return LoaderHealth(
        in_process=loader is not None,
        lag_seconds=lag,
        loaded_events=stats.loaded_events if stats else None,
        dead_lettered=stats.dead_lettered if stats else None,
        failures=stats.failures if stats else None,
        last_error=stats.last_error if stats else None,
        **dict(fresh),
    )
