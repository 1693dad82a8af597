"""Deterministic synthetic request events for benchmarks and warehouse tests.

Traffic meant to look like the product (demo, end-to-end tests) goes through the gateway;
this generator exists for volume: loading and dbt benchmarks need a million events fast.
``realistic=True`` adds what the warehouse marts slice by — cost-center and free-form tags,
end users, failures of every class and failovers, exact-cache hits and routing savings — and
``price_changes`` reprices a model from a given time, so tests can check that each request is
costed at the price in force at its time.
With the defaults the output is exactly what it always was (same seed, same events).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from warehouse.events import AttemptEvent, CostEvent, PriceEvent, RequestEvent, TokenCounts

_MODELS = {
    "openai": [("gpt-4o", "2.5", "10"), ("gpt-4o-mini", "0.15", "0.6")],
    "anthropic": [("claude-3-5-sonnet-latest", "3", "15"), ("claude-3-5-haiku-latest", "0.8", "4")],
    "gemini": [("gemini-1.5-flash", "0.075", "0.3")],
}
_TEAMS = ["ml", "search", "support", "growth", "platform"]
_COST_CENTERS = ["cc-100", "cc-200", "cc-300"]
_FAILURES = [("rate_limited", 429, 120.0), ("server_error", 503, 800.0), ("timeout", None, 30000.0)]
_Q = Decimal("0.000000000001")
_ZERO = Decimal("0.000000000000")
_CACHE_HIT = Decimal("0.000200000000")  # realistic=True: what a cache hit costs the customer


@dataclass(frozen=True, slots=True)
class PriceChange:
    """From ``at`` on, the model costs these prices per million tokens (before: the catalogue's)."""

    at: datetime
    input_per_mtok: Decimal
    output_per_mtok: Decimal


def _money(value: Decimal) -> Decimal:
    return value.quantize(_Q)  # the context's half-even, as this generator always rounded


def synthetic_events(
    n: int,
    *,
    seed: int = 7,
    customers: int = 20,
    start: datetime | None = None,
    span: timedelta | None = None,
    prefix: str = "syn",
    customer_names: Sequence[str] | None = None,
    realistic: bool = False,
    price_changes: Mapping[tuple[str, str], PriceChange] | None = None,
) -> Iterator[RequestEvent]:
    rng = random.Random(seed)
    start = start or datetime(2026, 10, 1, tzinfo=UTC)
    span = span or timedelta(days=30)
    step = span / max(n, 1)
    providers = list(_MODELS)
    names = list(customer_names) if customer_names else [f"customer-{i:03d}" for i in range(customers)]
    changes = price_changes or {}
    for i in range(n):
        ts = start + step * i
        provider = rng.choice(providers)
        model, pin, pout = rng.choice(_MODELS[provider])
        customer = names[rng.randrange(len(names))]
        tin, tout = rng.randint(20, 4000), rng.randint(5, 800)
        cached = tin // 2 if rng.random() < 0.2 else 0
        attempts = []
        if rng.random() < 0.05:
            attempts.append(
                AttemptEvent(
                    attempt_no=1,
                    provider=provider,
                    model=model,
                    started_ts=ts,
                    latency_ms=30000.0,
                    outcome="error",
                    http_status=503,
                    error_class="server_error",
                )
            )
        failed_request = False
        optimisation = "none"
        if realistic:
            if rng.random() < 0.08:  # a failure of any class, then a failover or a retry
                error_class, status, latency = rng.choice(_FAILURES)
                attempts.append(
                    AttemptEvent(
                        attempt_no=len(attempts) + 1,
                        provider=provider,
                        model=model,
                        started_ts=ts,
                        latency_ms=latency,
                        outcome="error",
                        http_status=status,
                        error_class=error_class,
                    )
                )
                if rng.random() < 0.5:
                    provider = rng.choice([p for p in providers if p != provider])
                    model, pin, pout = rng.choice(_MODELS[provider])
            failed_request = rng.random() < 0.02
            optimised = rng.random()
            if not failed_request and optimised < 0.05:  # an exact-cache hit: no provider call
                optimisation, attempts = "cache_exact", []
            elif not failed_request and optimised < 0.15:  # routed to a cheaper model than asked
                optimisation = "routing"
        change = changes.get((provider, model))
        valid_from = valid_to = None
        if change is not None:
            if ts >= change.at:
                pin, pout, valid_from = str(change.input_per_mtok), str(change.output_per_mtok), change.at
            else:
                valid_to = change.at
        end_user: str | None = None
        tags: dict[str, str] = {}
        if failed_request:
            attempts.append(
                AttemptEvent(
                    attempt_no=len(attempts) + 1,
                    provider=provider,
                    model=model,
                    started_ts=ts,
                    latency_ms=30000.0,
                    outcome="error",
                    error_class="timeout",
                )
            )
        elif optimisation != "cache_exact":
            attempts.append(
                AttemptEvent(
                    attempt_no=len(attempts) + 1,
                    provider=provider,
                    model=model,
                    started_ts=ts,
                    latency_ms=round(rng.uniform(80, 2500), 3),
                    outcome="success",
                    http_status=200,
                    input_tokens=tin,
                    output_tokens=tout,
                )
            )
        price_in, price_out = Decimal(pin), Decimal(pout)
        provider_cost = _money((tin * price_in + tout * price_out) / Decimal(1_000_000))
        markup = _money(provider_cost * Decimal(20) / Decimal(100))
        customer_cost = provider_cost + markup
        baseline_cost: Decimal | None = None
        if optimisation == "cache_exact":  # served from cache at a flat price per hit
            baseline_cost, provider_cost, markup, customer_cost = provider_cost, _ZERO, _ZERO, _CACHE_HIT
        elif optimisation == "routing":  # the model asked for would have cost 60 % more
            baseline_cost = _money(provider_cost * Decimal("1.6"))
        gateway_key_id = f"{customer}-key-{rng.randrange(2)}"
        end_user = f"user-{rng.randrange(50)}" if rng.random() < 0.7 else None
        request_type = rng.choice(["chat", "summarise", "classify"])
        if rng.random() < 0.8:
            tags = {"team": rng.choice(_TEAMS), "project": f"p{rng.randrange(8)}"}
        if realistic and tags:
            tags["cost_center"] = rng.choice(_COST_CENTERS)
            if rng.random() < 0.1:
                tags["env"] = rng.choice(["prod", "staging"])
        request_id = f"{prefix}-{seed}-{i:09d}"
        usage = TokenCounts(input_tokens=tin, output_tokens=tout, cached_input_tokens=cached)
        request = {
            "request_id": request_id,
            "request_ts": ts,
            "completed_ts": ts,
            "endpoint": "/v1/ai/completions",
            "customer": customer,
            "gateway_key_id": gateway_key_id,
            "end_user": end_user,
            "provider": provider,
            "model": model,
            "request_type": request_type,
            "priority": "standard",
            "tags": tags,
            "attempts": attempts,
        }
        if failed_request:
            yield RequestEvent(
                **request, status="error", http_status=504, error_code="upstream_timeout", latency_ms=30000.0
            )
            continue
        yield RequestEvent(
            **request,
            status="success",
            http_status=200,
            latency_ms=attempts[-1].latency_ms if attempts else 2.0,
            route_reason="requested model" if attempts else "exact cache hit",
            cache_status="hit" if optimisation == "cache_exact" else None,
            usage=usage,
            cost=CostEvent(
                cost_event_id=f"{request_id}:cost",
                event_ts=ts,
                tokens=usage,
                input_per_mtok=price_in,
                output_per_mtok=price_out,
                price_source="synthetic",
                is_priced=True,
                provider_cost=provider_cost,
                markup_pct=Decimal(20),
                markup_amount=markup,
                customer_cost=customer_cost,
                baseline_cost=baseline_cost,
                optimisation=optimisation,
            ),
            price=PriceEvent(
                provider=provider,
                model=model,
                input_per_mtok=price_in,
                output_per_mtok=price_out,
                price_source="synthetic",
                valid_from=valid_from,
                valid_to=valid_to,
            ),
        )
