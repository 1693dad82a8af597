"""The request pipeline: plan candidates, call upstream with retries and failover, cost the
result, and record one event per request — for streams too, even when the client leaves.

Failover: each candidate is tried up to ``tries_per_candidate`` times on retryable errors (429,
5xx, timeouts, broken connections), with short backoff honouring ``retry-after`` up to
``max_retry_wait``; then the next candidate. A matched routing rule's retry policy replaces
those defaults (attempts per candidate, backoff, which error classes retry). A stream fails
over only before its first chunk reaches the client. Every attempt's outcome also feeds the
gateway's own performance window (``fastest`` / ``most_available`` routing).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal

from redis.exceptions import RedisError

from gateway import metrics
from gateway.enforcement.breaker import HEALTH_FAILURES, CircuitBreaker
from gateway.enforcement.budget import BudgetRefusal
from gateway.errors import ApiError
from gateway.pipeline.admission import Admission
from gateway.pipeline.context import CallContext, Clock, Outcome, StreamSummary, final_error, utc_now
from gateway.pipeline.customer_keys import CustomerKeys
from gateway.pipeline.data_stages import DataStages
from gateway.pipeline.events import attempt_event, failure_event, rejection_event, success_event
from gateway.pipeline.per_customer import PerCustomer
from gateway.pipeline.planning import Planner
from gateway.pipeline.upstream import endpoint_for, with_model
from gateway.pricing import (
    PriceCatalog,
    TokenUsage,
    compute_cost,
    estimate_prompt_tokens,
    estimate_tokens,
)
from gateway.providers.base import get_adapter
from gateway.providers.http import UpstreamClient
from gateway.providers.types import ChatRequest, ChatResponse, ProviderError, StreamChunk, Usage
from gateway.recording.emitter import EventEmitter
from gateway.routing.catalog import ProviderCatalog, ProviderRoute
from gateway.routing.performance import OwnWindow, PerformanceSource
from gateway.routing.rules import RetryPolicy, RoutingRule
from warehouse.events import AttemptEvent

# Failures that count against a provider's availability (a client's bad request does not).
PROVIDER_FAULTS = HEALTH_FAILURES | {"rate_limited"}


class CompletionService:
    def __init__(
        self,
        catalog: ProviderCatalog,
        prices: PriceCatalog,
        http: UpstreamClient,
        emitter: EventEmitter,
        *,
        default_markup_pct: Decimal,
        tries_per_candidate: int = 2,
        max_retry_wait: float = 2.0,
        admission: Admission | None = None,
        customer_keys: CustomerKeys | None = None,
        breaker: CircuitBreaker | None = None,
        rules: PerCustomer[list[RoutingRule]] | None = None,
        clock: Clock = utc_now,
        window: OwnWindow | None = None,
        performance: PerformanceSource | None = None,
        data: DataStages | None = None,
    ) -> None:
        self.planner = Planner(catalog, prices, default_markup_pct, performance)
        self.window = window
        self.http = http
        self.emitter = emitter
        self.tries_per_candidate = tries_per_candidate
        self.max_retry_wait = max_retry_wait
        self.admission = admission
        self.customer_keys = customer_keys
        self.breaker = breaker
        self.rules = rules
        self.clock = clock
        self.data = data  # PII screening, caches, retention, savings (gateway/pipeline/data_stages.py)

    # -- non-streaming --------------------------------------------------------------------------
    async def prepare(self, ctx: CallContext, request: ChatRequest) -> list[tuple[ProviderRoute, str]]:
        """Plan the candidates and pass admission (rate limits, budget reservation)."""
        rules = await self.rules.get(ctx.principal.customer) if self.rules is not None else None
        candidates = await self.planner.plan(ctx, request, rules)
        if self.data is not None:
            await self.data.screen(ctx, request)  # PII: before admission and any provider call
        if self.customer_keys is not None:
            ctx.customer_keys = await self.customer_keys.get(ctx.principal.customer)
        if self.admission is not None:
            try:
                await self.admission.admit(ctx, self.planner.worst_case(ctx, request, candidates))
            except ApiError as refused:
                cheaper = self.planner.downgrade(ctx) if refused.code == "budget_exceeded" else []
                if not cheaper or cheaper == candidates:
                    raise
                # The rule says: over budget, serve from its cheaper route rather than refuse.
                await self.admission.reserve(ctx, self.planner.worst_case(ctx, request, cheaper))
                ctx.downgraded = True
                candidates = cheaper
        return candidates

    def _policy(self, ctx: CallContext) -> RetryPolicy:
        rule = ctx.routing_rule
        if rule is not None and rule.retry is not None:
            return rule.retry
        return RetryPolicy(
            max_attempts=self.tries_per_candidate, max_backoff_ms=int(self.max_retry_wait * 1000)
        )

    async def complete(self, ctx: CallContext, request: ChatRequest) -> Outcome:
        candidates = await self.prepare(ctx, request)
        if self.data is not None and (hit := await self.data.lookup(ctx, request, candidates)) is not None:
            return hit
        attempts: list[AttemptEvent] = []
        last: ProviderError | None = None
        upstream_ms = 0.0
        for index, (route, model) in enumerate(candidates):
            skip, why = await self._skip(ctx, request, route, model)
            if skip:
                last = last or why
                continue
            for try_no in range(self._policy(ctx).max_attempts):
                started_ts = self.clock()
                t0 = time.perf_counter()
                try:
                    response = await get_adapter(route.api_style).complete(
                        self.http, endpoint_for(ctx, route), with_model(request, model)
                    )
                except ProviderError as err:
                    ms = (time.perf_counter() - t0) * 1000
                    upstream_ms += ms
                    last = err
                    if await self._failed_try(ctx, attempts, (route, model), started_ts, ms, err, try_no):
                        break
                    continue
                ms = (time.perf_counter() - t0) * 1000
                upstream_ms += ms
                await self._succeeded(route, model, ms)
                attempts.append(
                    attempt_event(
                        len(attempts) + 1,
                        route,
                        model,
                        started_ts,
                        ms,
                        None,
                        response.usage,
                        ctx.provider_key_id(route.name),
                    )
                )
                reason = self._reason(ctx, index, len(attempts))
                return self._outcome(ctx, route, model, response, attempts, reason, upstream_ms)
            if last is not None and last.error_class == "bad_request":
                break
        if last is None:  # no candidate could be tried with the customer's own keys
            raise await self._refused_by_own_keys(ctx)
        await self.record_failure(ctx, attempts, last, upstream_ms)
        raise final_error(last)

    # -- streaming --------------------------------------------------------------------------------
    async def stream(
        self,
        ctx: CallContext,
        request: ChatRequest,
        candidates: list[tuple[ProviderRoute, str]] | None = None,
    ) -> AsyncIterator[StreamChunk | StreamSummary]:
        """Yield chunks then a StreamSummary; the event is recorded however the stream ends.

        Callers that must refuse before sending any byte call ``prepare`` first and pass its
        candidates in.
        """
        if candidates is None:
            candidates = await self.prepare(ctx, request)
        attempts: list[AttemptEvent] = []
        upstream_ms = 0.0
        delivered: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        outcome: Outcome | None = None
        last: ProviderError | None = None
        route, model = candidates[0]
        index, started_ts = 0, self.clock()
        recorded = False

        def settle(finish_reason: str | None, ms: float, err: ProviderError | None) -> Outcome:
            """The outcome of the current attempt, costed for what was delivered."""
            nonlocal usage
            usage = usage or self._estimate_usage(request, delivered)
            attempts.append(
                attempt_event(
                    len(attempts) + 1,
                    route,
                    model,
                    started_ts,
                    ms,
                    err,
                    usage,
                    ctx.provider_key_id(route.name),
                )
            )
            return self._outcome(
                ctx,
                route,
                model,
                ChatResponse("".join(delivered), finish_reason, usage, model),
                attempts,
                self._reason(ctx, index, len(attempts)),
                upstream_ms,
                status="error" if err else "success",
                error=err,
            )

        try:
            if self.data is not None and (hit := await self.data.lookup(ctx, request, candidates)):
                outcome = hit  # replayed from the cache; recorded below like any answer
                for chunk in self.data.replay(hit):
                    yield chunk
                yield StreamSummary(hit)
                return
            for index, (route, model) in enumerate(candidates):  # noqa: B007 - settle() reads them
                skip, why = await self._skip(ctx, request, route, model)
                if skip:
                    last = last or why
                    continue
                for try_no in range(self._policy(ctx).max_attempts):
                    started_ts = self.clock()
                    t0 = time.perf_counter()
                    agen = get_adapter(route.api_style).stream(
                        self.http, endpoint_for(ctx, route), with_model(request, model)
                    )
                    try:
                        async for chunk in agen:
                            if chunk.usage is not None:
                                usage = chunk.usage
                            if chunk.finish_reason:
                                finish = chunk.finish_reason
                            if chunk.delta:
                                delivered.append(chunk.delta)
                                yield chunk
                    except ProviderError as err:
                        ms = (time.perf_counter() - t0) * 1000
                        upstream_ms += ms
                        last = err
                        if delivered:  # too late to fail over: cost what reached the client
                            await self._failed(route, model, err)
                            outcome = settle("error", ms, err)
                            await self.record(ctx, outcome)
                            recorded = True
                            return
                        if await self._failed_try(ctx, attempts, (route, model), started_ts, ms, err, try_no):
                            break
                        continue
                    ms = (time.perf_counter() - t0) * 1000
                    upstream_ms += ms
                    await self._succeeded(route, model, ms)
                    outcome = settle(finish, ms, None)
                    yield StreamSummary(outcome)
                    return
                if last is not None and last.error_class == "bad_request":
                    break
            if last is None:  # no candidate could be tried with the customer's own keys
                refusal = await self._refused_by_own_keys(ctx)
                await self.record_rejection(ctx, refusal)
                recorded = True
                raise refusal
            await self.record_failure(ctx, attempts, last, upstream_ms)
            recorded = True
            raise final_error(last)
        finally:
            if not recorded:
                if outcome is None:  # the client left mid-stream: cost what was delivered
                    ms = (time.perf_counter() - ctx.started) * 1000
                    usage = usage or self._estimate_usage(request, delivered)
                    outcome = self._outcome(
                        ctx,
                        route,
                        model,
                        ChatResponse("".join(delivered), "client_disconnected", usage, model),
                        attempts,
                        "client disconnected",
                        upstream_ms or ms,
                    )
                await asyncio.shield(self.record(ctx, outcome))

    # -- costing and recording -----------------------------------------------------------------
    def _outcome(
        self,
        ctx: CallContext,
        route: ProviderRoute,
        model: str,
        response: ChatResponse,
        attempts: list[AttemptEvent],
        reason: str,
        upstream_ms: float,
        *,
        status: str = "success",
        error: ProviderError | None = None,
    ) -> Outcome:
        u = response.usage
        price = self.planner.price_for(route, model, ctx.request_ts, u.input_tokens)
        cost = compute_cost(
            price,
            TokenUsage(u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens),
            self.planner.markup(ctx),
        )
        return Outcome(
            route,
            model,
            response.text,
            response.finish_reason,
            u,
            cost,
            price,
            attempts,
            reason,
            (time.perf_counter() - ctx.started) * 1000,
            upstream_ms,
            status,
            error,
        )

    def _estimate_usage(self, request: ChatRequest, delivered: list[str]) -> Usage:
        prompt = estimate_prompt_tokens(request.messages)
        return Usage(
            input_tokens=prompt, output_tokens=estimate_tokens("".join(delivered)) if delivered else 0
        )

    def _reason(self, ctx: CallContext, index: int, n_attempts: int) -> str:
        rule = f"rule {ctx.routing_rule.name!r}" if ctx.routing_rule else None
        if ctx.downgraded:
            rule = f"{rule}: downgraded (budget exceeded)"
        if index > 0:
            return f"{rule}: failover" if rule else "failover"
        if n_attempts > 1:
            return f"{rule}: retried" if rule else "retried"
        return rule or ("requested model" if ctx.requested_model else "default model")

    async def _failed_try(
        self,
        ctx: CallContext,
        attempts: list[AttemptEvent],
        candidate: tuple[ProviderRoute, str],
        started_ts: datetime,
        ms: float,
        err: ProviderError,
        try_no: int,
    ) -> bool:
        """Record a failed try and back off; True when this candidate should not be tried again."""
        route, model = candidate
        key_id = ctx.provider_key_id(route.name)
        attempts.append(attempt_event(len(attempts) + 1, route, model, started_ts, ms, err, None, key_id))
        metrics.child(metrics.UPSTREAM_DURATION, route.name, model, err.error_class).observe(ms / 1000)
        policy = self._policy(ctx)
        if await self._failed(route, model, err) or not policy.retries(err.error_class):
            return True
        if try_no + 1 < policy.max_attempts:
            await asyncio.sleep(policy.backoff_s(try_no, err.retry_after))
        return False

    # -- circuit breaker (fails open: a Redis hiccup must not refuse traffic) --------------------
    async def _healthy(self, route: ProviderRoute, model: str) -> bool:
        if self.breaker is None:
            return True
        try:
            return await self.breaker.allows(route.name, model)
        except (RedisError, OSError):
            return True

    async def _failed(self, route: ProviderRoute, model: str, err: ProviderError) -> bool:
        """Count the failure; True when it opened the circuit (stop retrying this pair)."""
        if self.window is not None and err.error_class in PROVIDER_FAULTS:
            await self.window.observe(route.name, model, False, 0.0)
        if self.breaker is None:
            return False
        try:
            return await self.breaker.failure(route.name, model, err.error_class)
        except (RedisError, OSError):
            return False

    async def _succeeded(self, route: ProviderRoute, model: str, ms: float) -> None:
        """A good answer: time it (as ``_failed_try`` times failures) and tell the breaker."""
        metrics.child(metrics.UPSTREAM_DURATION, route.name, model, "").observe(ms / 1000)
        if self.window is not None:
            await self.window.observe(route.name, model, True, ms)
        if self.breaker is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.breaker.success(route.name, model)

    def _circuit_open(self, route: ProviderRoute, model: str) -> ProviderError:
        wait = self.breaker.cooldown_s if self.breaker is not None else None
        return ProviderError(
            "circuit_open", f"{route.name}/{model} is cooling down after repeated failures", retry_after=wait
        )

    async def record(self, ctx: CallContext, outcome: Outcome) -> None:
        event = success_event(ctx, outcome, self.planner.markup(ctx))
        if self.data is not None:
            event = await self.data.finish(ctx, outcome, event)
        await self.emitter.emit(event)
        if self.admission is not None:
            await self.admission.settle(ctx, outcome.cost.customer_cost, outcome.usage.total_tokens)
            used = ctx.key_hold is not None and ctx.key_hold[0] == outcome.route.name
            await self._release_key_hold(ctx, outcome.cost.provider_cost if used else Decimal(0))

    async def record_failure(
        self, ctx: CallContext, attempts: list[AttemptEvent], err: ProviderError, upstream_ms: float
    ) -> None:
        await self.emitter.emit(failure_event(ctx, attempts, err, upstream_ms))
        if self.admission is not None:
            await self.admission.settle(ctx, Decimal(0), 0)
            await self._release_key_hold(ctx)

    # -- the customer's own provider keys: allowed models and per-key budgets ---------------------
    async def _skip(
        self, ctx: CallContext, request: ChatRequest, route: ProviderRoute, model: str
    ) -> tuple[bool, ProviderError | None]:
        """Whether to pass over a candidate: its circuit is open, or the customer's own key for
        it does not cover the model or has no budget left for this call's worst case."""
        if not await self._healthy(route, model):
            return True, self._circuit_open(route, model)
        await self._release_key_hold(ctx)  # the previous candidate is done with
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
        worst = self.planner.worst_case(ctx, request, [(route, model)], markup=Decimal(0))
        try:
            held = await self.admission.budgets.reserve_provider_key(
                key.key_id, key.budget_daily, key.budget_monthly, worst, ctx.request_ts
            )
        except (RedisError, OSError):
            return False, None  # fail open, as for every budget
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

    async def _release_key_hold(self, ctx: CallContext, actual: Decimal = Decimal(0)) -> None:
        hold, ctx.key_hold = ctx.key_hold, None
        if hold is None or self.admission is None:
            return
        with contextlib.suppress(RedisError, OSError):
            await self.admission.budgets.settle(hold[1], actual)

    async def _refused_by_own_keys(self, ctx: CallContext) -> ApiError:
        """Every candidate was passed over for the customer's own keys: release and refuse."""
        if self.admission is not None:
            await self.admission.settle(ctx, Decimal(0), 0)
        status = min(s for s, _ in ctx.key_refusals) if ctx.key_refusals else 503
        code = {402: "provider_key_budget_exceeded", 403: "model_not_allowed"}.get(status, "no_route")
        reasons = "; ".join(m for _, m in ctx.key_refusals) or "no candidate could be tried"
        return ApiError(status, code, f"No provider could serve this request: {reasons}."[:500])

    async def record_rejection(self, ctx: CallContext, error: ApiError) -> None:
        """Authenticated requests refused before any provider call are recorded too."""
        await self.emitter.emit(rejection_event(ctx, error))
