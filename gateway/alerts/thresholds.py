"""Deciding that a budget crossed 50, 80 or 100 % — on the request path, so it must be cheap.

After each settlement the settled spend of every customer and gateway-key budget is compared
with its limit; a threshold reached for the first time in the budget's period is claimed with
``SET NX`` (once across all gateway processes) and queued as a job on a Redis stream for the
``AlertWorker`` — the request never waits on a webhook. A refusal for lack of budget counts as
100 %. Each process also remembers what it already claimed, so a budget past 50 % costs no
extra Redis call per request.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from decimal import Decimal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.enforcement.budget import BudgetRefusal, BudgetState

log = logging.getLogger("onevault.alerts")

THRESHOLDS = (50, 80, 100)
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


class BudgetAlerts:
    def __init__(self, redis: aioredis.Redis, stream: str = STREAM) -> None:
        self.redis = redis
        self.stream = stream
        self._claimed: set[tuple[str, int]] = set()

    async def after_settle(self, customer: str, states: list[BudgetState]) -> None:
        for st in states:
            if st.description.startswith("pkey:") or st.limit <= 0:
                continue
            for pct in THRESHOLDS:
                if st.spent * 100 >= st.limit * pct:
                    await self._fire(customer, st.key, st.description, st.limit, st.spent, pct)

    async def exhausted(self, customer: str, refusal: BudgetRefusal) -> None:
        """A request refused for this budget: it is, for the customer, at 100 %."""
        if refusal.key and not refusal.scope.startswith("pkey:"):
            what = f"{refusal.scope} {refusal.period}"
            for pct in THRESHOLDS:
                await self._fire(customer, refusal.key, what, refusal.limit, refusal.spent, pct)

    async def _fire(
        self, customer: str, key: str, description: str, limit: Decimal, spent: Decimal, pct: int
    ) -> None:
        if (key, pct) in self._claimed:
            return
        try:
            if await self.redis.set(f"ov:alert:{key}:{pct}", 1, nx=True, ex=_CLAIM_TTL_S):
                job = alert_job(customer, key, description, limit, spent, pct)
                await self.redis.xadd(self.stream, {"job": json.dumps(job)})
            self._claimed.add((key, pct))
        except (RedisError, OSError) as exc:  # an alert late is better than a request refused
            log.warning("could not queue a budget alert (%s)", type(exc).__name__)
