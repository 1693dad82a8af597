"""Admission: rate limits and budget reservations before a provider call, settlement after.

Redis being unreachable fails *open* (the request proceeds, unreserved, and a warning is
logged): an outage of the limiter must not take the gateway down, and every request is still
costed in the vault, so spend stays auditable.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from redis.exceptions import RedisError

from gateway.alerts.thresholds import BudgetAlerts
from gateway.enforcement import BudgetGuard, RateLimiter
from gateway.enforcement.budget import BudgetRefusal
from gateway.errors import ApiError
from gateway.pipeline.context import CallContext

log = logging.getLogger("onevault.admission")


class Admission:
    def __init__(self, rates: RateLimiter, budgets: BudgetGuard, alerts: BudgetAlerts | None = None) -> None:
        self.rates = rates
        self.budgets = budgets
        self.alerts = alerts

    async def admit(self, ctx: CallContext, worst_case: Decimal) -> None:
        """Raise 429 or 402 if the request may not proceed; otherwise hold its reservation."""
        try:
            verdict = await self.rates.admit(ctx.principal)
        except (RedisError, OSError) as exc:
            log.warning("limits unavailable (%s); admitting without enforcement", type(exc).__name__)
            return
        if not verdict.allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"Rate limit of {verdict.limit} {verdict.kind} per minute for {verdict.scope} reached; "
                f"retry in {verdict.retry_after}s.",
                headers=verdict.headers,
                details={"scope": verdict.scope, "limit": verdict.limit, "unit": f"{verdict.kind}/min"},
            )
        ctx.response_headers.update(verdict.headers)
        await self.reserve(ctx, worst_case)

    async def reserve(self, ctx: CallContext, worst_case: Decimal) -> None:
        """Hold ``worst_case`` against every budget of the request, or raise 402 (no rate count:
        a downgraded retry of the same request calls this alone)."""
        try:
            result = await self.budgets.reserve(ctx.principal, worst_case, ctx.request_ts)
        except (RedisError, OSError) as exc:
            log.warning("budgets unavailable (%s); admitting without enforcement", type(exc).__name__)
            return
        if isinstance(result, BudgetRefusal):
            if self.alerts is not None:
                await self.alerts.exhausted(ctx.principal.customer, result)
            raise ApiError(
                402,
                "budget_exceeded",
                f"The {result.period} budget of {result.limit} USD for {result.scope} does not cover this "
                f"request (worst case {worst_case:.6f} USD; {result.spent} spent, {result.reserved} held "
                "by requests in flight). Lower max_tokens, or raise the budget.",
                details={
                    "scope": result.scope,
                    "period": result.period,
                    "budget": str(result.limit),
                    "spent": str(result.spent),
                    "reserved": str(result.reserved),
                    "estimated_max_cost": str(worst_case),
                },
            )
        ctx.reservation = result

    async def settle(self, ctx: CallContext, actual: Decimal, tokens: int) -> None:
        """Replace the reservation by the real cost and count the tokens (once per request)."""
        reservation, ctx.reservation = ctx.reservation, None
        try:
            if reservation is not None:
                states = await self.budgets.settle(reservation, actual)
                if self.alerts is not None:
                    await self.alerts.after_settle(ctx.principal.customer, states)
            if tokens:
                await self.rates.count_tokens(ctx.principal, tokens)
        except (RedisError, OSError) as exc:
            log.warning("could not settle limits (%s); the vault still has the cost", type(exc).__name__)
