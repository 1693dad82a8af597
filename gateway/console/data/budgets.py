"""Budgets and alerts page: the budgets in force (definition, who set it, and this period's
spend and projection from marts.budget_forecast), and the alert delivery log (budget threshold
and spend-anomaly webhooks, every attempt, newest first).

Definitions come from the vault (sat_budget_definition by lnk_budget_customer), so a budget set
a moment ago is listed before the next dbt refresh; its forecast appears with the refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from gateway.console.data.relations import exist
from gateway.console.data.scope import Scope, ScopedQuery

DELIVERIES = 100


@dataclass(frozen=True, slots=True)
class BudgetView:
    budget_id: str
    customer_slug: str
    scope: str  # customer:acme | key:… | tag:team=search | end_user:…
    period: str  # day | month
    limit: Decimal
    is_soft: bool
    alert_thresholds: tuple[int, ...]
    changed_by: str
    changed_at: datetime
    spent: Decimal | None  # this period, from budget_forecast (None before its refresh)
    projected: Decimal | None
    runs_out_on: date | None
    status: str | None  # exhausted | projected_over | on_track


@dataclass(frozen=True, slots=True)
class Delivery:
    kind: str  # budget | anomaly
    alert: str  # budget: 'customer:acme|daily|2026-11-23|80'; anomaly: the anomaly id
    customer_slug: str
    attempt_no: int
    attempted_ts: datetime
    webhook_url: str
    http_status: int | None
    outcome: str  # delivered | failed | gave_up
    error: str | None
    summary: str  # what was alerted, in a line


@dataclass(frozen=True, slots=True)
class BudgetsPage:
    budgets: tuple[BudgetView, ...]
    deliveries: tuple[Delivery, ...]


_DEFINITIONS = """
select hb.budget_bk as budget_id, hc.customer_bk as customer_slug, d.*
from raw_vault.lnk_budget_customer l
join raw_vault.hub_budget hb on hb.budget_hk = l.budget_hk
join raw_vault.hub_customer hc on hc.customer_hk = l.customer_hk
join lateral (
    select s.scope_type, s.scope_value, s.period, s.limit_usd, s.is_soft, s.alert_thresholds,
           s.is_active, s.changed_by, s.load_dts as changed_at
    from raw_vault.sat_budget_definition s
    where s.budget_hk = l.budget_hk order by s.load_dts desc limit 1
) d on true
where {scoped} and d.is_active
order by hc.customer_bk, d.period, d.scope_type, d.scope_value
"""

_FORECAST = """
select budget_id, spent, projected_spend, runs_out_on, status
from marts.budget_forecast
where {scoped} and period_start <= {today} and period_end > {today}
"""

_BUDGET_DELIVERIES = """
select 'budget' as kind, h.budget_alert_bk as alert, hc.customer_bk as customer_slug, s.attempt_no,
       s.attempted_ts, s.webhook_url, s.http_status, s.outcome, s.error,
       s.scope || ' ' || s.period || ' ' || s.threshold_pct || '% of ' || s.budget as summary
from raw_vault.lnk_budget_alert_customer l
join raw_vault.hub_budget_alert h on h.budget_alert_hk = l.budget_alert_hk
join raw_vault.hub_customer hc on hc.customer_hk = l.customer_hk
join raw_vault.sat_budget_alert_delivery s on s.budget_alert_hk = l.budget_alert_hk
where {scoped}
order by s.attempted_ts desc limit {limit}
"""

_ANOMALY_DELIVERIES = """
select 'anomaly' as kind, h.anomaly_alert_bk as alert, hc.customer_bk as customer_slug, s.attempt_no,
       s.attempted_ts, s.webhook_url, s.http_status, s.outcome, s.error,
       s.kind || ' at ' || to_char(s.hour_start at time zone 'UTC', 'YYYY-MM-DD HH24:00') || ' UTC' as summary
from raw_vault.lnk_anomaly_alert_customer l
join raw_vault.hub_anomaly_alert h on h.anomaly_alert_hk = l.anomaly_alert_hk
join raw_vault.hub_customer hc on hc.customer_hk = l.customer_hk
join raw_vault.sat_anomaly_alert_delivery s on s.anomaly_alert_hk = l.anomaly_alert_hk
where {scoped}
order by s.attempted_ts desc limit {limit}
"""


async def budgets_with_deliveries(pool: asyncpg.Pool, scope: Scope, *, today: date) -> BudgetsPage:
    """The scope's budgets in force with this period's forecast, and the latest deliveries."""
    async with pool.acquire() as conn:
        q = ScopedQuery(scope)
        definitions = await q.fetch(conn, _DEFINITIONS.format(scoped=q.by_hk("l.customer_hk")))
        forecast: dict[str, asyncpg.Record] = {}
        if await exist(conn, "marts.budget_forecast"):
            q = ScopedQuery(scope)
            sql = _FORECAST.format(scoped=q.by_slug("customer_slug"), today=q.arg(today))
            forecast = {r["budget_id"]: r for r in await q.fetch(conn, sql)}
        deliveries = []
        for template in (_BUDGET_DELIVERIES, _ANOMALY_DELIVERIES):
            q = ScopedQuery(scope)
            sql = template.format(scoped=q.by_hk("l.customer_hk"), limit=DELIVERIES)
            deliveries += [Delivery(**dict(r)) for r in await q.fetch(conn, sql)]
    budgets = []
    for d in definitions:
        f = forecast.get(d["budget_id"])
        budgets.append(
            BudgetView(
                budget_id=d["budget_id"],
                customer_slug=d["customer_slug"],
                scope=f"{d['scope_type']}:{d['scope_value']}",
                period=d["period"],
                limit=d["limit_usd"],
                is_soft=d["is_soft"],
                alert_thresholds=tuple(d["alert_thresholds"]),
                changed_by=d["changed_by"],
                changed_at=d["changed_at"],
                spent=f["spent"] if f else None,
                projected=f["projected_spend"] if f else None,
                runs_out_on=f["runs_out_on"] if f else None,
                status=f["status"] if f else None,
            )
        )
    deliveries.sort(key=lambda x: x.attempted_ts, reverse=True)
    return BudgetsPage(tuple(budgets), tuple(deliveries[:DELIVERIES]))
