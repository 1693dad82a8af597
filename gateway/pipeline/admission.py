"""Admission: rate limits and budget reservations before a provider call, settlement after.

Redis being unreachable fails *closed* by default: a request whose limits or budgets cannot be
checked is refused with 503 ``limits_unavailable`` (an attacker who can make Redis error must not
win unlimited, unbudgeted traffic). A principal with no limits and no budgets needs no Redis
here and is served as usual. ``ONEVAULT_FAIL_OPEN=true`` restores the old trade-off: the request
proceeds unreserved, a warning is logged, and spend stays auditable in the vault.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg
from redis.exceptions import RedisError

from gateway.alerts.thresholds import BudgetAlerts
from gateway.enforcement import BudgetGuard, RateLimiter
from gateway.enforcement.budget import BudgetRefusal
from gateway.enforcement.credits import CreditGuard, CreditRefusal
from gateway.errors import ApiError
from gateway.pipeline.context import CallContext

log = logging.getLogger("onevault.admission")


class Admission:
    def __init__(
        self,
        rates: RateLimiter,
        budgets: BudgetGuard,
        alerts: BudgetAlerts | None = None,
        *,
        fail_open: bool = False,
        credits: CreditGuard | None = None,
    ) -> None:
        self.rates = rates
        self.budgets = budgets
        self.alerts = alerts
        self.fail_open = fail_open
        self.credits = credits  # prepaid wallets (None: every customer is billed postpaid)

    def unavailable(self, what: str, exc: BaseException) -> None:
        """Redis failed while checking ``what``: log and proceed if failing open, else raise 503."""
        if self.fail_open:
            log.warning("%s unavailable (%s); admitting without enforcement", what, type(exc).__name__)
            return
        log.warning("%s unavailable (%s); refusing (fail closed)", what, type(exc).__name__)
        raise ApiError(
            503,
            "limits_unavailable",
            f"Your {what} cannot be checked right now, so the request was not sent; retry shortly.",
            headers={"retry-after": "1"},
        ) from exc

    async def admit(self, ctx: CallContext, worst_case: Decimal) -> None:
        """Raise 429 or 402 if the request may not proceed; otherwise hold its reservation."""
        try:
            verdict = await self.rates.admit(ctx.principal)
        except (RedisError, OSError) as exc:
            self.unavailable("rate limits", exc)
            return
        if not verdict.allowed and verdict.kind == "concurrent":
            raise ApiError(
                429,
                "concurrency_limit_exceeded",
                f"{verdict.scope} already has {verdict.limit} requests in flight, its limit; retry when "
                f"one has finished (in about {verdict.retry_after}s).",
                headers=verdict.headers,
                details={"scope": verdict.scope, "limit": verdict.limit, "unit": "requests in flight"},
            )
        if not verdict.allowed and verdict.kind == "quota":
            resets = verdict.resets_at.isoformat().replace("+00:00", "Z") if verdict.resets_at else None
            raise ApiError(
                429,
                "quota_exceeded",
                f"The monthly token quota of {verdict.limit} tokens for {verdict.scope} is used up "
                f"({verdict.used} used); it resets at {resets}. Ask for a higher quota or tier.",
                headers=verdict.headers,
                details={
                    "scope": verdict.scope,
                    "limit": verdict.limit,
                    "used": verdict.used,
                    "unit": "tokens/month",
                    "resets_at": resets,
                },
            )
        if not verdict.allowed and verdict.kind == "requests_hour":
            raise ApiError(
                429,
                "rate_limited",
                f"Rate limit of {verdict.limit} requests per hour for {verdict.scope} reached; "
                f"retry in {verdict.retry_after}s.",
                headers=verdict.headers,
                details={"scope": verdict.scope, "limit": verdict.limit, "unit": "requests/hour"},
            )
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
        ctx.lease = verdict.lease  # given back in ``settle`` (or, if it never runs, when ctx is freed)
        await self.reserve(ctx, worst_case)

    async def reserve(self, ctx: CallContext, worst_case: Decimal) -> None:
        """Hold ``worst_case`` against every budget of the request, or raise 402 (no rate count:
        a downgraded retry of the same request calls this alone)."""
        try:
            # Tags and end user: the budgets defined on them join the same reservation (sql/018).
            result = await self.budgets.reserve(
                ctx.principal, worst_case, ctx.request_ts, tags=ctx.tags, end_user=ctx.end_user
            )
        except (RedisError, OSError) as exc:
            self.unavailable("budgets", exc)
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
                }
                | ({"budget_id": result.budget_id} if result.budget_id else {}),  # a defined budget
            )
        ctx.reservation = result
        await self.reserve_credit(ctx, worst_case)  # prepaid customers only

    # -- prepaid credits (gateway/enforcement/credits.py) ------------------------------------
    async def reserve_credit(self, ctx: CallContext, worst_case: Decimal) -> None:
        """Hold ``worst_case`` against a prepaid customer's wallet, or give the budget hold
        back and raise 402 ``credit_exhausted``."""
        if self.credits is None or not ctx.principal.prepaid:
            return
        try:
            result = await self.credits.reserve(ctx.principal, worst_case, ctx.request_ts)
        except (RedisError, OSError, TimeoutError, asyncpg.PostgresError) as exc:
            self.unavailable("credit balance", exc)
            return
        if not isinstance(result, CreditRefusal):
            ctx.credit_hold = result
            return
        reservation, ctx.reservation = ctx.reservation, None
        try:
            if reservation is not None:
                await self.budgets.settle(reservation, Decimal(0))
            await self.credits.exhausted(ctx.principal.customer, result)
        except (RedisError, OSError) as exc:
            log.warning("could not release a budget hold (%s)", type(exc).__name__)
        left = max(result.balance - result.spent, Decimal(0))
        raise ApiError(
            402,
            "credit_exhausted",
            f"Your prepaid credit does not cover this request (worst case {worst_case:.6f}; "
            f"{left:f} left, {result.reserved:f} held by requests in flight). Add credit, or lower "
            "max_tokens.",
            details={
                "balance": format(left, "f"),
                "reserved": format(result.reserved, "f"),
                "estimated_max_cost": format(worst_case, "f"),
            },
        )

    async def settle_credit(self, ctx: CallContext, actual: Decimal) -> None:
        hold, ctx.credit_hold = ctx.credit_hold, None
        if hold is None or self.credits is None:
            return
        try:
            await self.credits.settle(hold, actual)
        except (RedisError, OSError) as exc:
            log.warning("could not settle a credit hold (%s); the vault has the cost", type(exc).__name__)

    # -- end prepaid credits -----------------------------------------------------------------

    async def release(self, ctx: CallContext) -> None:
        """Refused after ``admit`` took its slots (a budget said no): give them back at once."""
        lease, ctx.lease = ctx.lease, None
        await self.rates.leases.give_back(lease)

    async def settle(self, ctx: CallContext, actual: Decimal, tokens: int) -> None:
        """Replace the reservation by the real cost, count the tokens and give the concurrency
        slots back (once per request)."""
        reservation, ctx.reservation = ctx.reservation, None
        lease, ctx.lease = ctx.lease, None
        await self.settle_credit(ctx, actual)  # prepaid credits
        try:
            if reservation is not None:
                states = await self.budgets.settle(reservation, actual)
                if self.alerts is not None:
                    await self.alerts.after_settle(ctx.principal.customer, states)
        except (RedisError, OSError) as exc:
            log.warning("could not settle limits (%s); the vault still has the cost", type(exc).__name__)
        try:
            await self.rates.finish(ctx.principal, tokens, lease)  # one round trip for both
        except (RedisError, OSError) as exc:  # an unreturned slot expires with its lease
            log.warning("could not count tokens or free slots (%s)", type(exc).__name__)
