"""Building the one event each request leaves behind — success, upstream failure or refusal —
and counting it in ``/metrics``; the service decides *when*, this module decides *what*."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway import metrics
from gateway.errors import ApiError
from gateway.pipeline.context import FINAL_STATUS, CallContext, Outcome
from gateway.pricing import ModelPrice
from gateway.providers.types import ProviderError, Usage
from gateway.routing.catalog import ProviderRoute
from warehouse.events import AttemptEvent, CostEvent, PriceEvent, RequestEvent, TokenCounts


def _from_context(ctx: CallContext) -> dict[str, Any]:
    """What every request event says about who asked for what, however it ended."""
    return {
        "request_id": ctx.request_id,
        "request_ts": ctx.request_ts,
        # On the request's own clock (which may be shifted), so completed_ts never precedes it.
        "completed_ts": ctx.request_ts + timedelta(seconds=time.perf_counter() - ctx.started),
        "endpoint": ctx.endpoint,
        "customer": ctx.principal.customer,
        "gateway_key_id": ctx.principal.key_id,
        "end_user": ctx.end_user,
        "routing_rule_id": ctx.routing_rule.rule_id if ctx.routing_rule else None,
        "request_type": ctx.request_type,
        "priority": ctx.priority,
        "requested_provider": ctx.requested_provider,
        "requested_model": ctx.requested_model,
        "stream": ctx.stream,
        "max_cost": ctx.max_cost,
        "client_ip": ctx.client_ip,
        "user_agent": ctx.user_agent,
        "tags": ctx.tags,
        "compliance_flags": ctx.compliance_flags,
        "pii_actions": ctx.pii_actions,
        "tools_offered": ctx.tools_offered,
        "input_modalities": ctx.input_modalities,
        "response_format": ctx.response_format,
        "reasoning_effort": ctx.reasoning_effort,
        "dropped_params": ctx.dropped_params,
        "trace_id": ctx.trace.trace_id if ctx.trace is not None else None,
    }


def success_event(ctx: CallContext, outcome: Outcome, markup_pct: Decimal) -> RequestEvent:
    route, model, u, cost, price = (
        outcome.route,
        outcome.model,
        outcome.usage,
        outcome.cost,
        outcome.price,
    )
    if outcome.status == "success":
        metrics.child(metrics.TOKEN_USAGE, route.name, model, "input").observe(u.input_tokens)
        metrics.child(metrics.TOKEN_USAGE, route.name, model, "output").observe(u.output_tokens)
    if not cost.priced:
        metrics.child(metrics.UNPRICED, route.name, model).inc()
    else:
        metrics.child(metrics.COST, route.name, model, "provider").inc(float(cost.provider_cost))
        metrics.child(metrics.COST, route.name, model, "customer").inc(float(cost.customer_cost))
    tokens = TokenCounts(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cached_input_tokens=u.cached_input_tokens,
        reasoning_tokens=u.reasoning_tokens,
        cache_write_tokens=u.cache_write_tokens,
        audio_input_tokens=u.audio_input_tokens,
        image_input_tokens=u.image_input_tokens,
    )
    err = outcome.error
    return RequestEvent(
        **_from_context(ctx),
        provider=route.name,
        model=model,
        provider_key_id=ctx.provider_key_id(route.name),
        status=outcome.status,
        http_status=422 if err is not None and err.error_class == "invalid_output" else 200,
        tool_calls_returned=len(outcome.tool_calls),
        validation_status=outcome.validation_status,
        error_code=err.error_class if err else None,
        error_message=str(err)[:500] if err else None,
        finish_reason=outcome.finish_reason,
        usage_source=outcome.usage_source,
        latency_ms=outcome.latency_ms,
        upstream_latency_ms=outcome.upstream_latency_ms,
        route_reason=outcome.route_reason,
        cache_status="none",
        usage=tokens,
        attempts=outcome.attempts,
        cost=CostEvent(
            cost_event_id=f"{ctx.request_id}:cost",
            event_ts=ctx.request_ts,
            tokens=tokens,
            input_per_mtok=price.input_per_mtok if price else None,
            output_per_mtok=price.output_per_mtok if price else None,
            cached_input_per_mtok=price.cached_input_per_mtok if price else None,
            reasoning_per_mtok=price.reasoning_per_mtok if price else None,
            cache_write_per_mtok=price.cache_write_per_mtok if price else None,
            input_audio_per_mtok=price.input_audio_per_mtok if price else None,
            price_source=price.source if price else None,
            is_priced=cost.priced,
            provider_cost=cost.provider_cost,
            markup_pct=markup_pct,
            markup_amount=cost.markup_amount,
            customer_cost=cost.customer_cost,
            baseline_model=ctx.requested_model or model,
            baseline_cost=cost.provider_cost,
            optimisation="none",
        ),
        price=price_event(route.name, price),
    )


def failure_event(
    ctx: CallContext, attempts: list[AttemptEvent], err: ProviderError, upstream_ms: float
) -> RequestEvent:
    status, code = FINAL_STATUS.get(err.error_class, (502, "upstream_error"))
    last = attempts[-1] if attempts else None
    return RequestEvent(
        **_from_context(ctx),
        provider=last.provider if last else None,
        model=last.model if last else None,
        status="error",
        http_status=status,
        error_code=code,
        error_message=str(err)[:500],
        latency_ms=(time.perf_counter() - ctx.started) * 1000,
        upstream_latency_ms=upstream_ms,
        attempts=attempts,
    )


def rejection_event(ctx: CallContext, error: ApiError) -> RequestEvent:
    """Authenticated requests refused before any provider call are recorded too."""
    return RequestEvent(
        **_from_context(ctx),
        status="rejected",
        http_status=error.status,
        error_code=error.code,
        error_message=error.message[:500],
        latency_ms=(time.perf_counter() - ctx.started) * 1000,
    )


def attempt_event(
    no: int,
    route: ProviderRoute,
    model: str,
    started: datetime,
    ms: float,
    err: ProviderError | None,
    usage: Usage | None = None,
    provider_key_id: str | None = None,
) -> AttemptEvent:
    return AttemptEvent(
        attempt_no=no,
        provider=route.name,
        model=model,
        provider_key_id=provider_key_id,
        started_ts=started,
        latency_ms=round(ms, 3),
        outcome="error" if err else "success",
        http_status=err.status if err else 200,
        error_class=err.error_class if err else None,
        error_message=str(err)[:300] if err else None,
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
    )


def price_event(provider: str, price: ModelPrice | None) -> PriceEvent | None:
    """The price as applied to our provider (hub_model is keyed by our provider name)."""
    if price is None:
        return None
    return PriceEvent(
        provider=provider,
        model=price.model,
        currency=price.currency,
        input_per_mtok=price.input_per_mtok,
        output_per_mtok=price.output_per_mtok,
        cached_input_per_mtok=price.cached_input_per_mtok,
        reasoning_per_mtok=price.reasoning_per_mtok,
        cache_write_per_mtok=price.cache_write_per_mtok,
        input_audio_per_mtok=price.input_audio_per_mtok,
        price_source=price.source,
        valid_from=price.valid_from,
        valid_to=price.valid_to,
    )
