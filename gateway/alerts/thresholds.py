"""Deciding that a budget crossed 50, 80 or 100 % — on the request path, so it must be cheap.

After each settlement the settled spend of every customer and gateway-key budget is compared
with its limit; a threshold reached for the first time in the budget's period is claimed with
``SET NX`` (once across all gateway processes) and queued as a job on a Redis stream for the
``AlertWorker`` — the request never waits on a webhook. A refusal for lack of budget counts as
100 %. Each process also remembers what it already claimed, so a budget past 50 % costs no
extra Redis call per request.

Budgets defined as vault entities (sql/018, docs/billing/budgets.md) alert at their own
thresholds, and also on their *forecast*: once ``FORECAST_MIN_ELAPSED`` of the period has
passed, the spend so far is projected linearly to the period's end; when that projection
reaches the limit while the money is not yet gone, one ``budget.forecast_exceeded`` alert per
period is queued (same claim, same stream, same worker) with the projection and the run-out
time. The fraction keeps a burst in the period's first minutes from projecting a false alarm.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.enforcement.budget import BudgetRefusal, BudgetState

log = logging.getLogger("onevault.alerts")

THRESHOLDS = (50, 80, 100)
FORECAST_MIN_ELAPSED = 0.1  # of the period (2.4 h of a day, ~3 days of a month) before forecasting
FORECAST = "forecast"  # the claim's suffix where thresholds use their percentage
STREAM = "ov:alerts"
_CLAIM_TTL_S = 40 * 86_400  # outlives the longest budget period


def alert_job(customer: str, key: str, description: str, limit: Decimal, spent: Decimal, pct: int) -> dict:
    """The job (and most of the webhook payload) for one threshold of one budget period."""
    scope, period = description.rsplit(" ", 1)
    kind, when = key.rsplit(":", 2)[-2:]
    period_start = f"{when}-01" if kind == "m" else when
    return {
        "alert_id": f"{scope}|{period}|{period_start}|{pct}",
        "customer": customer,
        "scope": scope,
        "period": period,
        "period_start": period_start,
        "threshold_pct": pct,
        "budget": str(limit),
        "spent": str(spent),
        "crossed_at": datetime.now(timezone.utc).isoformat(),
        "attempt": 1,
    }


def forecast_job(customer: str, state: BudgetState, projected: Decimal, runs_out: datetime | None) -> dict:
    """A defined budget whose linear projection reaches its limit before the period ends."""
    job = alert_job(customer, state.key, state.description, state.limit, state.spent, 100)
    return job | {
        "type": "budget.forecast_exceeded",
        "alert_id": job["alert_id"].rsplit("|", 1)[0] + "|" + FORECAST,
        "budget_id": state.budget_id,
        "soft": state.soft,
        "projected_spend": str(projected.quantize(Decimal("0.000001"))),
        "runs_out_at": runs_out.isoformat() if runs_out else None,
    }


class BudgetAlerts:
    def __init__(self, redis: aioredis.Redis, stream: str = STREAM) -> None:
        self.redis = redis
        self.stream = stream
        self._claimed: set[tuple[str, int | str]] = set()

    async def after_settle(self, customer: str, states: list[BudgetState]) -> None:
        for st in states:
            if st.description.startswith("pkey:") or st.limit <= 0:
                continue
            for pct in st.thresholds:
                if st.spent * 100 >= st.limit * pct:
                    await self._fire(
                        customer, st.key, st.description, st.limit, st.spent, pct, st.budget_id, st.soft
                    )
            if st.budget_id is not None and (st.key, FORECAST) not in self._claimed:
                await self._forecast(customer, st)

    async def _forecast(self, customer: str, st: BudgetState) -> None:
        """Queue ``budget.forecast_exceeded`` once per period when the projection reaches the limit
        while some of the budget is still left (past it, the 100 % threshold speaks)."""
        if st.spent >= st.limit or st.elapsed_fraction() < FORECAST_MIN_ELAPSED:
            return
        found = st.forecast()
        if found is None or found[0] < st.limit:
            return
        await self._claim(st.key, FORECAST, lambda: forecast_job(customer, st, *found))

    async def exhausted(self, customer: str, refusal: BudgetRefusal) -> None:
        """A request refused for this budget: it is, for the customer, at 100 %."""
        if refusal.key and not refusal.scope.startswith("pkey:"):
            what = f"{refusal.scope} {refusal.period}"
            for pct in refusal.thresholds:
                await self._fire(
                    customer, refusal.key, what, refusal.limit, refusal.spent, pct, refusal.budget_id
                )

    async def _fire(
        self,
        customer: str,
        key: str,
        description: str,
        limit: Decimal,
        spent: Decimal,
        pct: int,
        budget_id: str | None = None,
        soft: bool = False,
    ) -> None:
        def job() -> dict:
            found = alert_job(customer, key, description, limit, spent, pct)
            if budget_id is not None:  # a defined budget (sql/018)
                found |= {"budget_id": budget_id, "soft": soft}
            return found

        await self._claim(key, pct, job)

    async def _claim(self, key: str, what: int | str, job: Callable[[], dict]) -> None:
        """Queue ``job()`` unless this alert of this budget period was claimed already."""
        if (key, what) in self._claimed:
            return
        try:
            if await self.redis.set(f"ov:alert:{key}:{what}", 1, nx=True, ex=_CLAIM_TTL_S):
                await self.redis.xadd(self.stream, {"job": json.dumps(job())})
            self._claimed.add((key, what))
        except (RedisError, OSError) as exc:  # an alert late is better than a request refused
            log.warning("could not queue a budget alert (%s)", type(exc).__name__)
