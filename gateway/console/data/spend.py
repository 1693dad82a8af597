"""Spend explorer: spend by day or month × one dimension (provider, model, key, team, project,
cost center, end user; customer for operators), filtered, as a table, a chart series and a CSV.

Reads marts.spend_daily_by_model (day × customer × provider × model) when the dimension and
the filters need nothing finer — a platform-wide month is thousands of rows there, close to a
million in spend_daily — else marts.spend_daily (grain "day") or marts.spend_monthly (grain
"month"), both indexed on customer_slug and the date. Dates are UTC; ``start`` and ``end`` are
both included (for months: the months containing them). Keys, end users and the tags are each
customer's own: an operator groups or filters by them for one customer at a time (the
``customer`` filter); without it the table is empty with ``needs_customer`` set, rather than a
sum over a platform's worth of spend_daily rows that would mix unrelated customers' teams.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal, get_args

import asyncpg

from gateway.console.data.money import exact
from gateway.console.data.relations import exist
from gateway.console.data.scope import Scope, ScopedQuery

Grain = Literal["day", "month"]
Dimension = Literal["provider", "model", "key", "team", "project", "cost_center", "end_user", "customer"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)
MAX_ROWS = 20_000  # a table larger than this is cut (``truncated``); the CSV too
_BY_MODEL = frozenset({"provider", "model", "customer"})  # what spend_daily_by_model keeps

# The mart column (or expression) behind each dimension: declared once, for grouping and filters.
_COLUMN: dict[str, str] = {
    "provider": "provider",
    "model": "provider || '/' || model",
    "key": "gateway_key_id",
    "team": "team",
    "project": "project",
    "cost_center": "cost_center",
    "end_user": "end_user_id",
    "customer": "customer_slug",
}


@dataclass(frozen=True, slots=True)
class SpendFilters:
    """Equality filters; None = any. ``model`` is ``provider/model``."""

    provider: str | None = None
    model: str | None = None
    key: str | None = None
    team: str | None = None
    project: str | None = None
    cost_center: str | None = None
    end_user: str | None = None
    customer: str | None = None  # operators: one customer


@dataclass(frozen=True, slots=True)
class SpendRow:
    period: date | None  # first day of the day/month; None on the totals row
    value: str | None  # the dimension's value (None: requests without it, or the totals row)
    requests: int
    failed_requests: int
    input_tokens: int
    output_tokens: int
    provider_cost: Decimal
    markup: Decimal
    customer_cost: Decimal
    savings: Decimal


@dataclass(frozen=True, slots=True)
class SpendTable:
    grain: Grain
    by: Dimension
    start: date
    end: date
    rows: tuple[SpendRow, ...]  # by period, then customer_cost descending
    totals: SpendRow
    truncated: bool
    needs_customer: bool = False  # an operator asked for a customer's own dimension: pick one

    def periods(self) -> tuple[date, ...]:
        return tuple(sorted({r.period for r in self.rows if r.period is not None}))

    def top_values(self, n: int = 8) -> tuple[str | None, ...]:
        """The values with the most customer cost over the range (the chart's series)."""
        cost: dict[str | None, Decimal] = {}
        for r in self.rows:
            cost[r.value] = cost.get(r.value, Decimal(0)) + r.customer_cost
        return tuple(v for v, _ in sorted(cost.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n])


def _check(grain: str, by: str) -> None:
    if grain not in ("day", "month"):
        raise ValueError(f"grain must be day or month, not {grain!r}")
    if by not in _COLUMN:
        raise ValueError(f"cannot group spend by {by!r}; one of {', '.join(DIMENSIONS)}")


async def spend(
    pool: asyncpg.Pool,
    scope: Scope,
    *,
    grain: Grain,
    by: Dimension,
    start: date,
    end: date,
    filters: SpendFilters = SpendFilters(),
) -> SpendTable:
    """Spend per period and dimension value, with the range's totals."""
    _check(grain, by)
    if end < start:
        start, end = end, start
    if not await exist(pool, "marts.spend_daily", "marts.spend_monthly"):
        return SpendTable(grain, by, start, end, (), _total(()), False)
    used = {f.name for f in fields(SpendFilters) if getattr(filters, f.name) is not None} | {by}
    if scope.is_operator and filters.customer is None and not used <= _BY_MODEL:
        return SpendTable(grain, by, start, end, (), _total(()), False, needs_customer=True)
    if used <= _BY_MODEL and await exist(pool, "marts.spend_daily_by_model"):
        table = "marts.spend_daily_by_model"
        period = "usage_date" if grain == "day" else "date_trunc('month', usage_date)::date"
        lo, hi = (start, end) if grain == "day" else (start.replace(day=1), _month_end(end))
    elif grain == "day":
        table, period, lo, hi = "marts.spend_daily", "usage_date", start, end
    else:
        table, period, lo, hi = "marts.spend_monthly", "usage_month", start.replace(day=1), end.replace(day=1)
    q = ScopedQuery(scope)
    column_of_date = "usage_month" if table == "marts.spend_monthly" else "usage_date"
    where = [q.by_slug("customer_slug"), f"{column_of_date} between {q.arg(lo)} and {q.arg(hi)}"]
    for f in fields(SpendFilters):
        value = getattr(filters, f.name)
        if value is not None:
            where.append(f"{_COLUMN[f.name]} = {q.arg(value)}")
    column = _COLUMN[by]
    sql = f"""
    select {period} as period, {column} as value,
           sum(requests)::bigint as requests, sum(failed_requests)::bigint as failed_requests,
           sum(input_tokens)::bigint as input_tokens, sum(output_tokens)::bigint as output_tokens,
           sum(provider_cost) as provider_cost, sum(markup) as markup,
           sum(customer_cost) as customer_cost, sum(savings) as savings
    from {table}
    where {" and ".join(where)}
    group by 1, 2
    order by 1, customer_cost desc, 2
    limit {MAX_ROWS + 1}
    """
    records = await q.fetch(pool, sql)
    rows = tuple(SpendRow(**dict(r)) for r in records[:MAX_ROWS])
    return SpendTable(grain, by, start, end, rows, _total(rows), len(records) > MAX_ROWS)


def _month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def _total(rows: tuple[SpendRow, ...]) -> SpendRow:
    def s(name: str) -> Decimal:
        return sum((getattr(r, name) for r in rows), Decimal(0))

    return SpendRow(
        None,
        None,
        sum(r.requests for r in rows),
        sum(r.failed_requests for r in rows),
        sum(r.input_tokens for r in rows),
        sum(r.output_tokens for r in rows),
        s("provider_cost"),
        s("markup"),
        s("customer_cost"),
        s("savings"),
    )


def table_csv(table: SpendTable) -> str:
    """The table as CSV: one row per period and value, money at full precision, fixed-point."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            table.grain,
            table.by,
            "requests",
            "failed_requests",
            "input_tokens",
            "output_tokens",
            "provider_cost",
            "markup",
            "customer_cost",
            "savings",
        ]
    )
    for r in table.rows:
        writer.writerow(
            [
                r.period.isoformat() if r.period else "",
                "" if r.value is None else r.value,
                r.requests,
                r.failed_requests,
                r.input_tokens,
                r.output_tokens,
                exact(r.provider_cost),
                exact(r.markup),
                exact(r.customer_cost),
                exact(r.savings),
            ]
        )
    return out.getvalue()


async def spend_csv(
    pool: asyncpg.Pool,
    scope: Scope,
    *,
    grain: Grain,
    by: Dimension,
    start: date,
    end: date,
    filters: SpendFilters = SpendFilters(),
) -> str:
    """``spend`` as CSV (the download of what the page shows)."""
    return table_csv(await spend(pool, scope, grain=grain, by=by, start=start, end=end, filters=filters))
