"""The request pipeline: plan candidates, check they can honour the request, screen, admit, call
upstream through the one attempt loop (gateway/pipeline/attempts.py), validate structured
output, cost the result, and record one event per request — for streams too, even when the
client leaves.

A stream fails over only before its first content chunk reaches the client. Every attempt's
outcome also feeds the gateway's own performance window (``fastest`` / ``most_available``).

Money (docs/security/money.md): a model without a price is refused before any provider call
(``priced``); under a spending limit a request without ``max_tokens`` is sent the bound its
reservation assumed (``_for``); a stream whose client leaves is read on, bounded, for the
provider's own usage (gateway/pipeline/stream_pump.py), and the event says what was billed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

from gateway import tracing
from gateway.enforcement.breaker import CircuitBreaker
from gateway.errors import ApiError
from gateway.pipeline.admission import Admission
from gateway.pipeline.attempts import AttemptLoop, Exhausted, Rejected, Served
from gateway.pipeline.context import (
    CallContext,
    Candidates,
    Clock,
    Outcome,
    StreamSummary,
    final_error,
    utc_now,
)
from gateway.pipeline.customer_keys import CustomerKeys
from gateway.pipeline.data_stages import DataStages
from gateway.pipeline.events import attempt_event, failure_event, rejection_event, success_event
from gateway.pipeline.per_customer import PerCustomer
from gateway.pipeline.planning import Planner
from gateway.pipeline.stream_pump import StreamPump, drain
from gateway.pipeline.stream_state import PrimedStream, StreamState
from gateway.pipeline.upstream import with_model
from gateway.pipeline.validation import invalid_output, validate
from gateway.pricing import (
    CostBreakdown,
    ModelPrice,
    TokenUsage,
    compute_cost,
    estimate_prompt_tokens,
    estimate_tokens,
)
from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.http import UpstreamClient
from gateway.providers.types import (
    ChatRequest,
    ChatResponse,
    ProviderError,
    StreamChunk,
    Usage,
)
from gateway.recording.emitter import EventEmitter
from gateway.routing.catalog import ProviderRoute
from gateway.routing.performance import OwnWindow
from gateway.routing.rules import RoutingRule
from warehouse.events import AttemptEvent, RequestEvent

log = logging.getLogger("onevault.pipeline")


def add_costs(cost: CostBreakdown, others: list[CostBreakdown]) -> CostBreakdown:
    if not others:
        return cost
    return CostBreakdown(
        cost.provider_cost + sum((c.provider_cost for c in others), Decimal(0)),
        cost.markup_amount + sum((c.markup_amount for c in others), Decimal(0)),
        cost.customer_cost + sum((c.customer_cost for c in others), Decimal(0)),
        cost.priced and all(c.priced for c in others),
        cost.currency,
    )


Stage = Callable[[CallContext, ChatRequest, Candidates], Awaitable[Candidates]]


class CompletionService:
    def __init__(
        self,
        planner: Planner,
        http: UpstreamClient,
        emitter: EventEmitter,
        *,
        tries_per_candidate: int = 2,
        max_retry_wait: float = 2.0,
        admission: Admission | None = None,
        customer_keys: CustomerKeys | None = None,
        breaker: CircuitBreaker | None = None,
        rules: PerCustomer[list[RoutingRule]] | None = None,
        clock: Clock = utc_now,
        window: OwnWindow | None = None,
        data: DataStages | None = None,
        drain_s: float = 60.0,
        drain_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.planner = planner
        self.http = http
        self.emitter = emitter
        self.admission = admission
        self.customer_keys = customer_keys
        self.rules = rules
        self.clock = clock
        self.data = data  # PII screening, caches, retention, savings (gateway/pipeline/data_stages.py)
        # Before the provider call, in order; then the cache (``data.lookup``), the attempt loop
        # with output validation, costing, and ``record`` (``data.finish``: cache store,
        # retention, savings).
        self.stages: list[Stage] = [
            self.plan,
            self.capable,
            self.priced,
            self.screen,
            self.own_keys,
            self.admit,
        ]
        # A stream whose client left is read on (bounded) for the provider's usage, then recorded.
        self.drain_s, self.drain_bytes = drain_s, drain_bytes
        self._reading_on: set[asyncio.Task[None]] = set()
        self.loop = AttemptLoop(
            self.planner,
            clock=clock,
            tries_per_candidate=tries_per_candidate,
            max_retry_wait=max_retry_wait,
            admission=admission,
            breaker=breaker,
            window=window,
        )

    # -- before any provider call: the ordered stages ---------------------------------------------
    async def prepare(self, ctx: CallContext, request: ChatRequest) -> Candidates:
        """Run the stages that may refuse before a provider call, in order; each takes the
        candidates so far and returns them (planning makes them, admission may downgrade them)."""
        describe(ctx, request)
        candidates: Candidates = []
        for stage in self.stages:
            candidates = await stage(ctx, request, candidates)
        return candidates

    async def plan(self, ctx: CallContext, request: ChatRequest, _: Candidates) -> Candidates:
        """The customer's rules and the catalog: who may serve it, in order (404/403/402 here)."""
        rules = await self.rules.get(ctx.principal.customer) if self.rules is not None else None
        return await self.planner.plan(ctx, request, rules)

    async def capable(self, ctx: CallContext, request: ChatRequest, candidates: Candidates) -> Candidates:
        """Only candidates that can honour every field (400 ``unsupported_parameter`` if none)."""
        return self.planner.capable(ctx, request, candidates, drop=await self._drops(ctx))

    async def priced(self, ctx: CallContext, request: ChatRequest, candidates: Candidates) -> Candidates:
        """Only candidates with a price (400 ``model_unpriced`` if none): an unpriced call would
        cost 0 and reserve 0, outside every budget, unless the operator allows it."""
        kept = self.planner.priced(ctx, candidates)
        if not kept:
            models = ", ".join(dict.fromkeys(repr(m) for _, m in candidates))
            raise ApiError(
                400,
                "model_unpriced",
                f"Model {models} has no price in this gateway's catalog, so it cannot be billed or held "
                "against a budget; choose a priced model, or ask the operator to add a price for it.",
                param="model",
            )
        return kept

    async def screen(self, ctx: CallContext, request: ChatRequest, candidates: Candidates) -> Candidates:
        """PII: flag, redact or block before any provider sees the text."""
        if self.data is not None:
            await self.data.screen(ctx, request, candidates)
        return candidates

    async def own_keys(self, ctx: CallContext, request: ChatRequest, candidates: Candidates) -> Candidates:
        """The customer's own provider keys (the attempt loop applies their models and budgets)."""
        if self.customer_keys is not None:
            ctx.customer_keys = await self.customer_keys.get(ctx.principal.customer)
        return candidates

    async def admit(self, ctx: CallContext, request: ChatRequest, candidates: Candidates) -> Candidates:
        """Rate limits and the worst-case budget reservation; over budget, a rule may downgrade.
        A call whose answers output validation may retry reserves every try it may pay for."""
        if self.admission is None:
            return candidates
        tries = 1 if request.stream else 1 + self._output_retries(ctx, request)
        try:
            await self.admission.admit(ctx, self.planner.worst_case(ctx, request, candidates) * tries)
        except ApiError as refused:
            cheaper = self.planner.downgrade(ctx) if refused.code == "budget_exceeded" else []
            if cheaper:
                cheaper = self.planner.capable(ctx, request, cheaper, drop=await self._drops(ctx))
                cheaper = self.planner.priced(ctx, cheaper)
            if not cheaper or cheaper == candidates:
                await self.admission.release(ctx)  # refused: its concurrency slots are free at once
                raise
            # The rule says: over budget, serve from its cheaper route rather than refuse.
            await self.admission.reserve(ctx, self.planner.worst_case(ctx, request, cheaper) * tries)
            ctx.downgraded = True
            return cheaper
        return candidates

    async def _drops(self, ctx: CallContext) -> bool:
        """``drop_unsupported_params``: the matched rule's option, else the customer's setting."""
        rule = ctx.routing_rule
        if rule is not None and "drop_unsupported_params" in rule.options:
            return bool(rule.options["drop_unsupported_params"])
        if self.data is None:
            return False
        policy = await self.data.policies.get(ctx.principal.customer)
        return bool(getattr(policy, "drop_unsupported_params", False))

    def _for(self, ctx: CallContext, request: ChatRequest, route: ProviderRoute, model: str) -> ChatRequest:
        """The request as one candidate gets it: its model, minus the options it may drop, and —
        under a spending limit, when it names no ``max_tokens`` — the output bound its reservation
        assumed, so the provider cannot generate (and bill) more than was held."""
        sent = with_model(request, model)
        if sent.max_tokens is None and limited(ctx, route):
            sent = dataclasses.replace(sent, max_tokens=self.planner.output_bound(request))
        drop = ctx.param_drops.get((route.name, model))
        return sent.without(list(drop)) if drop else sent

    def _served_by(self, ctx: CallContext, route: ProviderRoute, model: str) -> None:
        ctx.dropped_params = list(ctx.param_drops.get((route.name, model), ()))

    def _output_retries(self, ctx: CallContext, request: ChatRequest) -> int:
        rule = ctx.routing_rule
        if request.response_format is None or request.response_format.type == "text" or rule is None:
            return 0
        if rule.options.get("on_invalid_output") != "retry":
            return 0
        return int(rule.options.get("max_output_retries", 1))

    # -- non-streaming --------------------------------------------------------------------------
    async def complete(self, ctx: CallContext, request: ChatRequest) -> Outcome:
        candidates = await self.prepare(ctx, request)
        if self.data is not None and (hit := await self.data.lookup(ctx, request, candidates)) is not None:
            return hit
        fmt = request.response_format

        async def call(route: ProviderRoute, model: str, endpoint: ProviderEndpoint) -> ChatResponse:
            return await get_adapter(route.api_style).complete(
                self.http, endpoint, self._for(ctx, request, route, model)
            )

        def check(response: ChatResponse, route: ProviderRoute, model: str) -> ProviderError | None:
            if response.tool_calls:
                return None
            status, errors = validate(response.text, fmt)
            return invalid_output(errors) if status == "failed" else None

        try:
            served = await self.loop.run(
                ctx,
                request,
                candidates,
                call,
                usage_of=lambda r: r.usage,
                check=check if fmt is not None and fmt.type != "text" else None,
                output_retries=self._output_retries(ctx, request),
            )
        except Exhausted as failed:
            raise await self.exhausted(ctx, failed) from None
        self._served_by(ctx, served.route, served.model)
        response = served.value
        outcome = self.costed_outcome(
            ctx,
            served.route,
            served.model,
            response,
            served.attempts,
            self.route_reason(ctx, served.index, len(served.attempts)),
            served.upstream_ms,
            rejected=served.rejected,
        )
        self._validate(outcome, request)
        if outcome.validation_status == "failed" and fmt is not None and fmt.strict:
            err = invalid_output(outcome.validation_errors)
            outcome.status, outcome.error = "error", err
            await self.record(ctx, outcome)  # the provider was paid: the answer is costed and billed
            raise final_error(err)
        return outcome

    def _validate(self, outcome: Outcome, request: ChatRequest) -> None:
        if outcome.tool_calls:
            return
        outcome.validation_status, outcome.validation_errors = validate(outcome.text, request.response_format)

    async def exhausted(self, ctx: CallContext, failed: Exhausted) -> ApiError:
        """Every candidate failed: record it and say why (or none could be tried: own keys)."""
        if failed.last is None:
            return await self.loop.refused_by_own_keys(ctx)
        if failed.rejected:  # answers refused by output validation were paid for: bill them
            await self.record(ctx, self._rejected_only(ctx, failed))
        else:
            await self.record_failure(ctx, failed.attempts, failed.last, failed.upstream_ms)
        return final_error(failed.last)

    def _rejected_only(self, ctx: CallContext, failed: Exhausted) -> Outcome:
        """The failed request costed for every answer output validation rejected."""
        last = failed.rejected[-1]
        outcome = self.costed_outcome(
            ctx,
            last.route,
            last.model,
            ChatResponse("", "error", Usage(), last.model),
            failed.attempts,
            self.route_reason(ctx, 0, len(failed.attempts)),
            failed.upstream_ms,
            status="error",
            error=failed.last,
            rejected=failed.rejected,
        )
        outcome.validation_status = "failed"
        outcome.validation_errors = list(last.error.details or [])
        return outcome

    # -- streaming --------------------------------------------------------------------------------
    async def stream(
        self, ctx: CallContext, request: ChatRequest, candidates: Candidates | None = None
    ) -> AsyncIterator[StreamChunk | StreamSummary]:
        """Yield chunks then a StreamSummary; the event is recorded however the stream ends.

        Callers that must refuse before sending any byte call ``prepare`` first and pass its
        candidates in. Past its first chunk the upstream is read by a ``StreamPump``: a client
        that leaves cancels only its own wait, and the rest is read on by ``_read_on``.
        """
        if candidates is None:
            candidates = await self.prepare(ctx, request)
        state = StreamState()
        outcome: Outcome | None = None
        served: Served[PrimedStream] | None = None
        pump: StreamPump | None = None
        recorded = False

        async def open_stream(route: ProviderRoute, model: str, endpoint: ProviderEndpoint) -> PrimedStream:
            chunks = get_adapter(route.api_style).stream(
                self.http, endpoint, self._for(ctx, request, route, model)
            )
            head: list[StreamChunk] = []
            async for chunk in chunks:
                head.append(chunk)
                if chunk.has_content:
                    return PrimedStream(head, chunks, ended=False)
            return PrimedStream(head, chunks, ended=True)

        def settle(finish: str | None, ms: float, err: ProviderError | None) -> Outcome:
            """The outcome of the serving attempt, costed for what was delivered."""
            assert served is not None
            route, model = served.route, served.model
            usage = state.usage or self._estimate_usage(request, state)
            served.attempts.append(attempt_event_for(ctx, served, len(served.attempts) + 1, ms, err, usage))
            end_serving_span(served, served.attempts[-1], finish)
            outcome = self.costed_outcome(
                ctx,
                route,
                model,
                state.response(finish, usage, model),
                served.attempts,
                self.route_reason(ctx, served.index, len(served.attempts)),
                served.upstream_ms + ms,
                status="error" if err else "success",
                error=err,
            )
            outcome.usage_source = "provider" if state.usage is not None else "estimate"
            self._validate(outcome, request)
            return outcome

        try:
            if self.data is not None and (hit := await self.data.lookup(ctx, request, candidates)):
                outcome = hit  # replayed from the cache; recorded below like any answer
                for chunk in self.data.replay(hit):
                    yield chunk
                yield StreamSummary(hit)
                return
            try:
                served = await self.loop.run(ctx, request, candidates, open_stream, commit=False)
            except Exhausted as failed:
                recorded = True
                if failed.last is None:
                    refusal = await self.loop.refused_by_own_keys(ctx)
                    await self.record_rejection(ctx, refusal)
                    raise refusal from None
                raise await self.exhausted(ctx, failed) from None
            self._served_by(ctx, served.route, served.model)
            primed = served.value
            pump = None if primed.ended else StreamPump(primed.chunks)
            for chunk in primed.head:  # all of it, before any yield: a client leaving now loses none
                state.add(chunk)
            try:
                for chunk in primed.head:
                    if chunk.has_content:
                        yield chunk
                if pump is not None:
                    async for chunk in pump:
                        state.add(chunk)
                        if chunk.has_content:
                            yield chunk
            except ProviderError as err:  # too late to fail over: cost what reached the client
                ms = (time.perf_counter() - served.t0) * 1000
                await self.loop.failed(ctx, served.route, served.model, err)
                outcome = settle("error", ms, err)
                await self.record(ctx, outcome)
                recorded = True
                return
            ms = (time.perf_counter() - served.t0) * 1000
            await self.loop.succeeded(ctx, served.route, served.model, ms)
            outcome = settle(state.finish, ms, None)
            yield StreamSummary(outcome)
        finally:
            if not recorded and outcome is None and pump is not None:
                # The client left mid-stream: the provider bills the whole generation, so read on.
                self._read_on(ctx, request, candidates, served, state, pump)
            else:
                if pump is not None:
                    pump.cancel()
                elif served is not None:
                    with contextlib.suppress(Exception):
                        await served.value.chunks.aclose()  # type: ignore[attr-defined]
                if not recorded:
                    if outcome is None:  # the client left before the stream was under way
                        outcome = self._disconnected(ctx, request, candidates, served, state)
                    await asyncio.shield(self.record(ctx, outcome))

    def _read_on(
        self,
        ctx: CallContext,
        request: ChatRequest,
        candidates: Candidates,
        served: Served[PrimedStream] | None,
        state: StreamState,
        pump: StreamPump,
    ) -> None:
        """Read the rest of the upstream in the background, bounded (``drain_s``, ``drain_bytes``),
        then record the request billed at the provider's usage if it came, else an estimate of
        everything received; the budget hold stays until then."""

        async def read_on() -> None:
            try:
                await drain(pump, state, seconds=self.drain_s, max_bytes=self.drain_bytes)
            finally:
                try:
                    await self.record(ctx, self._disconnected(ctx, request, candidates, served, state))
                except Exception:  # nobody awaits this task: say so rather than lose it silently
                    log.exception("could not record request %s after its client left", ctx.request_id)

        task = asyncio.create_task(read_on())
        self._reading_on.add(task)
        task.add_done_callback(self._reading_on.discard)

    async def aclose(self) -> None:
        """At shutdown: cut short the streams still read on after a disconnect, and record them."""
        for task in list(self._reading_on):
            task.cancel()
        await asyncio.gather(*self._reading_on, return_exceptions=True)

    def _disconnected(
        self,
        ctx: CallContext,
        request: ChatRequest,
        candidates: Candidates,
        served: Served[PrimedStream] | None,
        state: StreamState,
    ) -> Outcome:
        """A stream whose client left: billed at the provider's usage when it arrived
        (``provider_after_disconnect``), else at an estimate of everything the provider sent."""
        route, model = (served.route, served.model) if served is not None else candidates[0]
        ms = (time.perf_counter() - ctx.started) * 1000
        usage = state.usage or self._estimate_usage(request, state)
        attempts: list[AttemptEvent] = []
        if served is not None:  # the serving try, as the provider counted it (or as estimated)
            tried = (time.perf_counter() - served.t0) * 1000
            attempts = [
                *served.attempts,
                attempt_event_for(ctx, served, len(served.attempts) + 1, tried, None, usage),
            ]
            end_serving_span(served, attempts[-1], state.finish)
        outcome = self.costed_outcome(
            ctx,
            route,
            model,
            state.response("client_disconnected", usage, model),
            attempts,
            "client disconnected",
            (served.upstream_ms if served is not None else 0.0) or ms,
        )
        outcome.usage_source = "provider_after_disconnect" if state.usage else "estimate_after_disconnect"
        return outcome

    # -- costing and recording -----------------------------------------------------------------
    def _cost(
        self, ctx: CallContext, route: ProviderRoute, model: str, u: Usage
    ) -> tuple[CostBreakdown, ModelPrice | None]:
        price = self.planner.price_for(route, model, ctx.request_ts, u.input_tokens)
        return compute_cost(price, TokenUsage.of(u), self.planner.markup(ctx)), price

    def costed_outcome(
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
        rejected: list[Rejected] | None = None,
    ) -> Outcome:
        """The costed result; answers rejected by output validation are added to the bill
        (each priced on the candidate that produced it)."""
        u = response.usage
        cost, price = self._cost(ctx, route, model, u)
        if rejected:
            cost = add_costs(cost, [self._cost(ctx, r.route, r.model, r.usage)[0] for r in rejected])
            u = sum_usage(u, [r.usage for r in rejected])
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
            tool_calls=list(response.tool_calls),
            refusal=response.refusal,
            reasoning=response.reasoning,
            logprobs=response.logprobs,
            thinking_blocks=list(response.thinking_blocks),
        )

    def _estimate_usage(self, request: ChatRequest, state: StreamState) -> Usage:
        prompt = estimate_prompt_tokens(request.messages, request.tools)
        delivered = (
            "".join(state.text) + "".join(state.reasoning) + "".join(c.arguments for c in state.tools.calls())
        )
        return Usage(input_tokens=prompt, output_tokens=estimate_tokens(delivered) if delivered else 0)

    def route_reason(self, ctx: CallContext, index: int, n_attempts: int) -> str:
        rule = f"rule {ctx.routing_rule.name!r}" if ctx.routing_rule else None
        if ctx.downgraded:
            rule = f"{rule}: downgraded (budget exceeded)"
        if index > 0:
            return f"{rule}: failover" if rule else "failover"
        if n_attempts > 1:
            return f"{rule}: retried" if rule else "retried"
        return rule or ("requested model" if ctx.requested_model else "default model")

    async def record(
        self, ctx: CallContext, outcome: Outcome, amend: Callable[[RequestEvent], RequestEvent] | None = None
    ) -> None:
        """Emit the request's event and settle its budgets; ``amend`` lets a call kind add what
        only it knows (an image's per-image price) to the finished event."""
        event = success_event(ctx, outcome, self.planner.markup(ctx))
        if self.data is not None:
            event = await self.data.finish(ctx, outcome, event)
        if amend is not None:
            event = amend(event)
        await self._emit(ctx, event)
        if self.admission is not None:
            await self.admission.settle(ctx, outcome.cost.customer_cost, outcome.usage.total_tokens)
            used = ctx.key_hold is not None and ctx.key_hold[0] == outcome.route.name
            await self.loop.release_key_hold(ctx, outcome.cost.provider_cost if used else Decimal(0))

    async def record_failure(
        self, ctx: CallContext, attempts: list[AttemptEvent], err: ProviderError, upstream_ms: float
    ) -> None:
        await self._emit(ctx, failure_event(ctx, attempts, err, upstream_ms))
        if self.admission is not None:
            await self.admission.settle(ctx, Decimal(0), 0)
            await self.loop.release_key_hold(ctx)

    async def record_rejection(self, ctx: CallContext, error: ApiError) -> None:
        """Authenticated requests refused before any provider call are recorded too."""
        await self._emit(ctx, rejection_event(ctx, error))

    async def _emit(self, ctx: CallContext, event: RequestEvent) -> None:
        """Emit the request's one event; a traced request's span takes its outcome from it too,
        so the trace and the vault row say the same."""
        if ctx.trace is not None:
            ctx.trace.finish(event)
        await self.emitter.emit(event)


def limited(ctx: CallContext, route: ProviderRoute) -> bool:
    """Whether a spending limit holds this call: a customer or key budget reservation, the
    client's ``max_cost``, or a budget hold on the customer's own key for this provider."""
    if ctx.max_cost is not None or (ctx.reservation is not None and not ctx.reservation.empty):
        return True
    return ctx.key_hold is not None and ctx.key_hold[0] == route.name


def describe(ctx: CallContext, request: ChatRequest) -> None:
    """What the request uses, for the vault's spend-by-feature columns."""
    ctx.tools_offered = len(request.tools)
    ctx.input_modalities = request.input_modalities()
    fmt = request.response_format
    ctx.response_format = fmt.type if fmt is not None else None
    ctx.reasoning_effort = request.reasoning_effort or (
        f"budget:{request.thinking_budget}" if request.thinking_budget is not None else None
    )


def sum_usage(first: Usage, others: list[Usage]) -> Usage:
    total = Usage(**{f: getattr(first, f) for f in first.__slots__})
    for u in others:
        for f in total.__slots__:
            setattr(total, f, getattr(total, f) + getattr(u, f))
    return total


def end_serving_span(served: Served, attempt: AttemptEvent, finish: str | None) -> None:
    """A traced stream's serving try ends with the stream: its span, with its attempt row."""
    if served.span is not None:
        tracing.end_attempt(served.span, attempt, finish_reason=finish, response_model=served.model)


def attempt_event_for(
    ctx: CallContext, served: Served, no: int, ms: float, err: ProviderError | None, usage: Usage
) -> AttemptEvent:
    return attempt_event(
        no,
        served.route,
        served.model,
        served.started_ts,
        ms,
        err,
        usage,
        ctx.provider_key_id(served.route.name),
    )
