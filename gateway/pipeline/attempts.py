"""The one attempt loop: candidates × tries × circuit breaker × the customer's own keys (allowed
models, per-key budget holds) × output validation, shared by plain, streamed and embedding calls.

Each candidate is tried up to the retry policy's ``max_attempts`` times on retryable errors,
with backoff honouring ``retry-after``; then the next candidate. A provider's ``bad_request``
ends the loop (another provider would refuse the same body). A call kind supplies only ``call``
(one upstream try: a whole answer, an embedding, or a stream primed to its first content chunk)
and, optionally, ``check`` (output validation: an answer that fails it is costed, recorded as an
``invalid_output`` attempt and, when the rule says ``on_invalid_output: retry``, tried again).

``commit=False`` (streams) returns as soon as the try has produced its first content: the caller
finishes that attempt with ``succeeded`` or ``failed_mid_stream`` once the stream ends, because
a stream fails over only before its first chunk reaches the client.

A traced request (``ctx.trace``) gets one CLIENT span per try, here, ended with the try's attempt
row; a stream's serving try hands its span on in ``Served.span`` for the caller to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

from opentelemetry.trace import Span
from redis.exceptions import RedisError

from gateway import metrics, tracing
from gateway.enforcement.breaker import HEALTH_FAILURES, CircuitBreaker
from gateway.enforcement.budget import BudgetRefusal
from gateway.errors import ApiError
from gateway.pipeline.admission import Admission
from gateway.pipeline.context import CallContext, Candidates, Clock
from gateway.pipeline.events import attempt_event
from gateway.pipeline.planning import Planner
from gateway.pipeline.upstream import endpoint_for, upstream_of
from gateway.providers.base import ProviderEndpoint
from gateway.providers.types import ChatRequest, ProviderError, Usage
from gateway.routing.catalog import ProviderRoute
from gateway.routing.performance import OwnWindow
from gateway.routing.rules import RetryPolicy
from warehouse.events import AttemptEvent

# Failures that count against a provider's availability (a client's bad request does not).
PROVIDER_FAULTS = HEALTH_FAILURES | {"rate_limited"}
T = TypeVar("T")


@dataclass(slots=True)
class Rejected:
    """An answer that failed output validation: it was paid for, so it is costed and billed."""

    route: ProviderRoute
    model: str
    usage: Usage
    error: ProviderError


@dataclass(slots=True)
class Served(Generic[T]):
    value: T
    route: ProviderRoute
    model: str
    index: int  # the candidate's position (0: the first choice)
    started_ts: datetime
    t0: float  # perf_counter at the start of the serving try
    attempts: list[AttemptEvent]
    upstream_ms: float
    rejected: list[Rejected] = field(default_factory=list)
    span: Span | None = None  # a traced stream's serving try: ended by the caller with its row


class Exhausted(Exception):
    """Every candidate failed (``last`` is the final error) or none could be tried. ``rejected``:
    answers output validation refused on the way; they were paid for, so they are billed."""

    def __init__(
        self,
        last: ProviderError | None,
        attempts: list[AttemptEvent],
        upstream_ms: float,
        rejected: list[Rejected] | None = None,
    ) -> None:
        super().__init__(str(last))
        self.last = last
        self.attempts = attempts
        self.upstream_ms = upstream_ms
        self.rejected = rejected or []


Call = Callable[[ProviderRoute, str, ProviderEndpoint], Awaitable[T]]
Check = Callable[[T, ProviderRoute, str], ProviderError | None]
UsageOf = Callable[[T], Usage | None]


class AttemptLoop:
    def __init__(
        self,
        planner: Planner,
        *,
        clock: Clock,
        tries_per_candidate: int,
        max_retry_wait: float,
        admission: Admission | None,
        breaker: CircuitBreaker | None,
        window: OwnWindow | None,
    ) -> None:
        self.planner = planner
        self.clock = clock
        self.tries_per_candidate = tries_per_candidate
        self.max_retry_wait = max_retry_wait
        self.admission = admission
        self.breaker = breaker
        self.window = window

    def policy(self, ctx: CallContext) -> RetryPolicy:
        rule = ctx.routing_rule
        if rule is not None and rule.retry is not None:
            return rule.retry
        return RetryPolicy(
            max_attempts=self.tries_per_candidate, max_backoff_ms=int(self.max_retry_wait * 1000)
        )

    async def run(
        self,
        ctx: CallContext,
        sizing: ChatRequest,
        candidates: Candidates,
        call: Call[T],
        *,
        usage_of: UsageOf[T] | None = None,
        check: Check[T] | None = None,
        output_retries: int = 0,
        commit: bool = True,
    ) -> Served[T]:
        """The first good try's value; ``Exhausted`` when none succeeded. ``sizing`` is the
        request as the budget sees it (own-key holds reserve its worst case)."""
        attempts: list[AttemptEvent] = []
        rejected: list[Rejected] = []
        last: ProviderError | None = None
        upstream_ms = 0.0
        policy = self.policy(ctx)
        for index, (route, model) in enumerate(candidates):
            skip, why = await self._skip(ctx, sizing, route, model)
            if skip:
                last = last or why
                continue
            for try_no in range(policy.max_attempts):
                started_ts = self.clock()
                t0 = time.perf_counter()
                endpoint = endpoint_for(ctx, route)
                span = ctx.trace.attempt(route, model, endpoint, ctx.stream) if ctx.trace else None
                try:
                    value = await call(route, model, endpoint)
                except ProviderError as err:
                    ms = (time.perf_counter() - t0) * 1000
                    upstream_ms += ms
                    last = err
                    if await self._failed_try(
                        ctx, attempts, route, model, started_ts, ms, err, try_no, policy, span
                    ):
                        break
                    continue
                except BaseException as exc:
                    if span is not None:
                        tracing.abandon(span, exc)
                    raise
                if not commit:
                    if span is not None:
                        tracing.first_chunk(span, time.perf_counter() - t0)
                    return Served(
                        value, route, model, index, started_ts, t0, attempts, upstream_ms, rejected, span
                    )
                ms = (time.perf_counter() - t0) * 1000
                upstream_ms += ms
                usage = usage_of(value) if usage_of is not None else None
                invalid = check(value, route, model) if check is not None else None
                if invalid is not None and output_retries > 0:
                    output_retries -= 1
                    last = invalid
                    rejected.append(Rejected(route, model, usage or Usage(), invalid))
                    key_id = ctx.provider_key_id(route.name)
                    attempts.append(
                        attempt_event(len(attempts) + 1, route, model, started_ts, ms, invalid, usage, key_id)
                    )
                    _traced(span, attempts[-1], value)
                    continue  # the same candidate while its tries last, then the next
                await self.succeeded(ctx, route, model, ms)
                attempts.append(
                    attempt_event(
                        len(attempts) + 1,
                        route,
                        model,
                        started_ts,
                        ms,
                        None,
                        usage,
                        ctx.provider_key_id(route.name),
                    )
                )
                _traced(span, attempts[-1], value)
                return Served(value, route, model, index, started_ts, t0, attempts, upstream_ms, rejected)
            if last is not None and last.error_class == "bad_request":
                break
        raise Exhausted(last, attempts, upstream_ms, rejected)

    # -- one try's bookkeeping -----------------------------------------------------------------
    async def _failed_try(
        self,
        ctx: CallContext,
        attempts: list[AttemptEvent],
        route: ProviderRoute,
        model: str,
        started_ts: datetime,
        ms: float,
        err: ProviderError,
        try_no: int,
        policy: RetryPolicy,
        span: Span | None,
    ) -> bool:
        """Record a failed try and back off; True when this candidate should not be tried again."""
        key_id = ctx.provider_key_id(route.name)
        attempts.append(attempt_event(len(attempts) + 1, route, model, started_ts, ms, err, None, key_id))
        _traced(span, attempts[-1])
        metrics.child(metrics.UPSTREAM_DURATION, route.name, model, err.error_class).observe(ms / 1000)
        if await self.failed(ctx, route, model, err) or not policy.retries(err.error_class):
            return True
        if try_no + 1 < policy.max_attempts:
            await asyncio.sleep(policy.backoff_s(try_no, err.retry_after))
        return False

    # -- circuit breaker and performance window (fail open: a Redis hiccup must not refuse) -----
    # Both are keyed by the upstream really called (gateway/pipeline/upstream.py ``upstream_of``):
    # the platform's route, or one customer's own key on it — never one for the other.
    async def healthy(self, ctx: CallContext, route: ProviderRoute, model: str) -> bool:
        if self.breaker is None:
            return True
        try:
            return await self.breaker.allows(upstream_of(ctx, route), model)
        except (RedisError, OSError):
            return True

    async def failed(self, ctx: CallContext, route: ProviderRoute, model: str, err: ProviderError) -> bool:
        """Count the failure; True when it opened the circuit (stop retrying this pair)."""
        upstream = upstream_of(ctx, route)
        if self.window is not None and err.error_class in PROVIDER_FAULTS:
            await self.window.observe(upstream, model, False, 0.0)
        if self.breaker is None:
            return False
        try:
            return await self.breaker.failure(upstream, model, err.error_class)
        except (RedisError, OSError):
            return False

    async def succeeded(self, ctx: CallContext, route: ProviderRoute, model: str, ms: float) -> None:
        """A good answer: time it (as failures are timed) and tell the breaker."""
        upstream = upstream_of(ctx, route)
        metrics.child(metrics.UPSTREAM_DURATION, route.name, model, "").observe(ms / 1000)
        if self.window is not None:
            await self.window.observe(upstream, model, True, ms)
        if self.breaker is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.breaker.success(upstream, model)

    def circuit_open(self, ctx: CallContext, route: ProviderRoute, model: str) -> ProviderError:
        wait = self.breaker.cooldown_s if self.breaker is not None else None
        key_id = ctx.provider_key_id(route.name)
        which = f"your {route.name} key {key_id}" if key_id else route.name
        return ProviderError(
            "circuit_open", f"{which}/{model} is cooling down after repeated failures", retry_after=wait
        )

    # -- the customer's own provider keys: allowed models and per-key budgets ---------------------
    async def _skip(
        self, ctx: CallContext, sizing: ChatRequest, route: ProviderRoute, model: str
    ) -> tuple[bool, ProviderError | None]:
        """Whether to pass over a candidate: its circuit is open, or the customer's own key for
        it does not cover the model or has no budget left for this call's worst case."""
        if not await self.healthy(ctx, route, model):
            return True, self.circuit_open(ctx, route, model)
        await self.release_key_hold(ctx)  # the previous candidate is done with
        key = ctx.customer_keys.get(route.name)
        if key is None:
            return False, None
        if not key.allows(model):
            ctx.key_refusals.append(
                (403, f"your {route.name} key {key.key_id} is not allowed model {model!r}")
            )
            return True, None
        if self.admission is None or (key.budget_daily is None and key.budget_monthly is None):
            return False, None
        worst = self.planner.worst_case(ctx, sizing, [(route, model)], markup=Decimal(0))
        try:
            held = await self.admission.budgets.reserve_provider_key(
                key.key_id, key.budget_daily, key.budget_monthly, worst, ctx.request_ts
            )
        except (RedisError, OSError):
            if self.admission.fail_open:  # ONEVAULT_FAIL_OPEN: call unreserved
                return False, None
            ctx.key_refusals.append(
                (503, f"the budget of your {route.name} key {key.key_id} cannot be checked right now")
            )
            return True, None
        if isinstance(held, BudgetRefusal):
            ctx.key_refusals.append(
                (
                    402,
                    f"the {held.period} budget of {held.limit} USD of your {route.name} key {key.key_id} "
                    f"does not cover this call ({held.spent} spent, {held.reserved} held)",
                )
            )
            return True, None
        ctx.key_hold = (route.name, held)
        return False, None

    async def release_key_hold(self, ctx: CallContext, actual: Decimal = Decimal(0)) -> None:
        hold, ctx.key_hold = ctx.key_hold, None
        if hold is None or self.admission is None:
            return
        with contextlib.suppress(RedisError, OSError):
            await self.admission.budgets.settle(hold[1], actual)

    async def refused_by_own_keys(self, ctx: CallContext) -> ApiError:
        """Every candidate was passed over for the customer's own keys: release and refuse."""
        if self.admission is not None:
            await self.admission.settle(ctx, Decimal(0), 0)
        status = min(s for s, _ in ctx.key_refusals) if ctx.key_refusals else 503
        codes = {402: "provider_key_budget_exceeded", 403: "model_not_allowed", 503: "limits_unavailable"}
        code = codes.get(status, "no_route") if ctx.key_refusals else "no_route"
        reasons = "; ".join(m for _, m in ctx.key_refusals) or "no candidate could be tried"
        return ApiError(status, code, f"No provider could serve this request: {reasons}."[:500])


def _traced(span: Span | None, attempt: AttemptEvent, value: object = None) -> None:
    """End a traced try's span with its attempt row; an answer's finish reason, model and id,
    when the call kind has them (chat answers do; embeddings have no finish reason)."""
    if span is not None:
        tracing.end_attempt(
            span,
            attempt,
            finish_reason=getattr(value, "finish_reason", None),
            response_model=getattr(value, "model", None),
            response_id=getattr(value, "provider_request_id", None),
        )
