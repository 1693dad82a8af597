"""Overview page: spend today and this month against the budgets in force (with the
budget_forecast projection), requests, error rate, cache and routing savings, the top models,
teams and keys of the month, and a daily series (last 30 days) for the chart.

Reads marts.spend_daily_by_model (day × customer × model: the series, totals, top models and,
for operators, top customers), marts.spend_daily for a customer's top teams and keys (index
customer_slug, usage_date; a month of one customer), marts.savings, marts.budget_forecast and
the customer's settings. An operator's overview has no top teams or keys (they are each
customer's own); the figures are as fresh as the last dbt refresh (``as_of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import asyncpg

from gateway.console.data.relations import exist
from gateway.console.data.scope import Scope, ScopedQuery

SERIES_DAYS = 30
TOP = 5
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget in force this period and how the period is going."""

    budget_id: str | None  # None: the limit in the customer's settings (budget_daily / _monthly)
    customer_slug: str
    scope: str  # customer:acme | key:… | tag:team=search | end_user:…
    period: str  # day | month
    limit: Decimal
    spent: Decimal
    projected: Decimal | None
    remaining: Decimal
    runs_out_on: date | None
    status: str  # exhausted | projected_over | on_track
    is_soft: bool


@dataclass(frozen=True, slots=True)
class Ranked:
    name: str | None  # None: requests without the attribute (no team tag, …)
    requests: int
    customer_cost: Decimal


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: date
    requests: int
    customer_cost: Decimal


@dataclass(frozen=True, slots=True)
class Overview:
    today: date
    spend_today: Decimal
    spend_month: Decimal
    requests_today: int
    requests_month: int
    failed_month: int
    error_rate: Decimal | None  # failed / requests this month (None without requests)
    cache_savings_month: Decimal  # cache hits' baseline − actual provider cost
    savings_month: Decimal  # every optimisation (cache and routing)
    budgets: tuple[BudgetLine, ...]
    top_models: tuple[Ranked, ...]
    top_teams: tuple[Ranked, ...]
    top_keys: tuple[Ranked, ...]
    top_customers: tuple[Ranked, ...]  # operators only (a customer scope: empty)
    daily: tuple[DayPoint, ...]  # SERIES_DAYS days up to today, zeros included
    as_of: datetime | None  # newest load_dts counted (the marts' freshness)


def _empty(today: date, daily: tuple[DayPoint, ...] = ()) -> Overview:
    return Overview(today, ZERO, ZERO, 0, 0, 0, None, ZERO, ZERO, (), (), (), (), (), daily, None)


async def overview(pool: asyncpg.Pool, scope: Scope, *, today: date) -> Overview:
    """The overview for ``today`` (UTC date): month-to-date figures and the last 30 days."""
    month = today.replace(day=1)
    first = min(month, today - timedelta(days=SERIES_DAYS - 1))
    days = [first + timedelta(days=i) for i in range((today - first).days + 1)]
    if not await exist(pool, "marts.spend_daily", "marts.savings", "marts.budget_forecast"):
        return _empty(today, tuple(DayPoint(d, 0, ZERO) for d in days[-SERIES_DAYS:]))
    async with pool.acquire() as conn:
        groups = await _by_model(conn, scope, first, today, month)
        if not scope.is_operator:
            groups += await _by_team_and_key(conn, scope, month, today)
        savings = await _savings(conn, scope, month, today)
        budgets = await _budgets(conn, scope, today)
    by_day = {r["usage_date"]: r for r in groups if r["kind"] == "day"}
    daily = tuple(
        DayPoint(d, by_day[d]["requests"], by_day[d]["cost"]) if d in by_day else DayPoint(d, 0, ZERO)
        for d in days[-SERIES_DAYS:]
    )
    month_days = [r for d, r in by_day.items() if d >= month]
    requests_month = sum(r["requests"] for r in month_days)
    failed = sum(r["failed"] for r in month_days)
    spend_today = by_day[today]["cost"] if today in by_day else ZERO
    spend_month = sum((r["cost"] for r in month_days), ZERO)
    as_of = max((r["loaded_at"] for r in groups if r["loaded_at"] is not None), default=None)

    def top(kind: str) -> tuple[Ranked, ...]:
        rows = sorted((r for r in groups if r["kind"] == kind), key=lambda r: (-r["cost"], -r["requests"]))
        return tuple(Ranked(r["name"], r["requests"], r["cost"]) for r in rows[:TOP])

    budget_lines = budgets + await _settings_budgets(pool, scope, spend_today, spend_month)
    return Overview(
        today=today,
        spend_today=spend_today,
        spend_month=spend_month,
        requests_today=by_day[today]["requests"] if today in by_day else 0,
        requests_month=requests_month,
        failed_month=failed,
        error_rate=(Decimal(failed) / Decimal(requests_month)).quantize(Decimal("0.0001"))
        if requests_month
        else None,
        cache_savings_month=savings[0],
        savings_month=savings[1],
        budgets=budget_lines,
        top_models=top("model"),
        top_teams=top("team"),
        top_keys=top("key"),
        top_customers=top("customer"),
        daily=daily,
        as_of=as_of,
    )


async def _by_model(
    conn: asyncpg.Connection, scope: Scope, first: date, today: date, month: date
) -> list[asyncpg.Record]:
    """One pass over the days by model: the daily series, the month's top models and customers."""
    table = "marts.spend_daily_by_model"
    if not await exist(conn, table):  # a warehouse built before that mart
        table = "marts.spend_daily"
    q = ScopedQuery(scope)
    m = q.arg(month)
    sql = f"""
    select
        case when grouping(usage_date) = 0 then 'day'
             when grouping(customer_slug) = 0 then 'customer'
             else 'model' end as kind,
        usage_date,
        case when grouping(customer_slug) = 0 then customer_slug
             when grouping(model) = 0 then provider || '/' || model end as name,
        case when grouping(usage_date) = 0 then sum(requests)
             else sum(requests) filter (where usage_date >= {m}) end::bigint as requests,
        sum(failed_requests)::bigint as failed,
        coalesce(case when grouping(usage_date) = 0 then sum(customer_cost)
                      else sum(customer_cost) filter (where usage_date >= {m}) end, 0) as cost,
        max(loaded_at) as loaded_at
    from {table}
    where {q.by_slug("customer_slug")}
      and usage_date between {q.arg(first)} and {q.arg(today)}
    group by grouping sets ((usage_date), (provider, model), (customer_slug))
    """
    rows = await q.fetch(conn, sql)
    return [
        r
        for r in rows
        if r["kind"] == "day" or (r["requests"] and (r["kind"] != "customer" or scope.is_operator))
    ]


async def _by_team_and_key(
    conn: asyncpg.Connection, scope: Scope, month: date, today: date
) -> list[asyncpg.Record]:
    """The month's top teams and keys of one customer (spend_daily: the tags' and keys' grain)."""
    q = ScopedQuery(scope)
    sql = f"""
    select case when grouping(team) = 0 then 'team' else 'key' end as kind, null::date as usage_date,
           case when grouping(team) = 0 then team else gateway_key_id end as name,
           sum(requests)::bigint as requests, sum(failed_requests)::bigint as failed,
           coalesce(sum(customer_cost), 0) as cost, max(loaded_at) as loaded_at
    from marts.spend_daily
    where {q.by_slug("customer_slug")} and usage_date between {q.arg(month)} and {q.arg(today)}
    group by grouping sets ((team), (gateway_key_id))
    """
    return list(await q.fetch(conn, sql))


async def _savings(
    conn: asyncpg.Connection, scope: Scope, month: date, today: date
) -> tuple[Decimal, Decimal]:
    q = ScopedQuery(scope)
    row = await q.fetchrow(
        conn,
        f"""
        select coalesce(sum(savings) filter (where optimisation like 'cache%'), 0) as cache,
               coalesce(sum(savings), 0) as every
        from marts.savings
        where {q.by_slug("customer_slug")} and usage_date between {q.arg(month)} and {q.arg(today)}
        """,
    )
    assert row is not None
    return row["cache"], row["every"]


async def _budgets(conn: asyncpg.Connection, scope: Scope, today: date) -> tuple[BudgetLine, ...]:
    """budget_forecast's rows for the periods containing ``today``; an operator sees only the
    budgets in trouble (exhausted or projected over), every customer's."""
    q = ScopedQuery(scope)
    t = q.arg(today)
    trouble = "" if not scope.is_operator else "and status <> 'on_track'"
    rows = await q.fetch(
        conn,
        f"""
        select budget_id, customer_slug, scope, period, limit_usd, spent, projected_spend,
               remaining, runs_out_on, status, is_soft
        from marts.budget_forecast
        where {q.by_slug("customer_slug")}
          and period_start <= {t} and period_end > {t} {trouble}
        order by customer_slug, period, scope
        limit 200
        """,
    )
    return tuple(
        BudgetLine(
            r["budget_id"],
            r["customer_slug"],
            r["scope"],
            r["period"],
            r["limit_usd"],
            r["spent"],
            r["projected_spend"],
            r["remaining"],
            r["runs_out_on"],
            r["status"],
            r["is_soft"],
        )
        for r in rows
    )


async def _settings_budgets(
    pool: asyncpg.Pool, scope: Scope, spend_today: Decimal, spend_month: Decimal
) -> tuple[BudgetLine, ...]:
    """The customer settings' own daily / monthly limits (a customer scope only)."""
    if scope.is_operator:
        return ()
    q = ScopedQuery(scope)
    row = await q.fetchrow(
        pool,
        f"""
        select h.customer_bk, s.budget_daily, s.budget_monthly
        from raw_vault.hub_customer h join raw_vault.sat_customer_config s using (customer_hk)
        where {q.by_hk("h.customer_hk")}
        order by s.load_dts desc limit 1
        """,
    )
    if row is None:
        return ()
    lines = []
    for period, limit, spent in (
        ("day", row["budget_daily"], spend_today),
        ("month", row["budget_monthly"], spend_month),
    ):
        if limit is None:
            continue
        status = "exhausted" if spent >= limit else "on_track"
        lines.append(
            BudgetLine(
                None,
                row["customer_bk"],
                f"customer:{row['customer_bk']}",
                period,
                limit,
                spent,
                None,
                max(limit - spent, ZERO),
                None,
                status,
                False,
            )
        )
    return tuple(lines)
