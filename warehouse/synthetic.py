"""Deterministic synthetic request events for benchmarks and warehouse tests.

Traffic meant to look like the product (demo, end-to-end tests) goes through the gateway;
this generator exists for volume: loading and dbt benchmarks need a million events fast.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from warehouse.events import AttemptEvent, CostEvent, PriceEvent, RequestEvent, TokenCounts

_MODELS = {
    "openai": [("gpt-4o", "2.5", "10"), ("gpt-4o-mini", "0.15", "0.6")],
    "anthropic": [("claude-3-5-sonnet-latest", "3", "15"), ("claude-3-5-haiku-latest", "0.8", "4")],
    "gemini": [("gemini-1.5-flash", "0.075", "0.3")],
}
_TEAMS = ["ml", "search", "support", "growth", "platform"]
_Q = Decimal("0.000000000001")


def synthetic_events(
    n: int,
    *,
    seed: int = 7,
    customers: int = 20,
    start: datetime | None = None,
    span: timedelta | None = None,
    prefix: str = "syn",
) -> Iterator[RequestEvent]:
    rng = random.Random(seed)
    start = start or datetime(2026, 10, 1, tzinfo=UTC)
    span = span or timedelta(days=30)
    step = span / max(n, 1)
    providers = list(_MODELS)
    for i in range(n):
        ts = start + step * i
        provider = rng.choice(providers)
        model, pin, pout = rng.choice(_MODELS[provider])
        customer = f"customer-{rng.randrange(customers):03d}"
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
        provider_cost = ((tin * price_in + tout * price_out) / Decimal(1_000_000)).quantize(_Q)
        markup = (provider_cost * Decimal(20) / Decimal(100)).quantize(_Q)
        yield RequestEvent(
            request_id=f"{prefix}-{seed}-{i:09d}",
            request_ts=ts,
            completed_ts=ts,
            endpoint="/v1/ai/completions",
            customer=customer,
            gateway_key_id=f"{customer}-key-{rng.randrange(2)}",
            end_user=f"user-{rng.randrange(50)}" if rng.random() < 0.7 else None,
            provider=provider,
            model=model,
            request_type=rng.choice(["chat", "summarise", "classify"]),
            priority="standard",
            status="success",
            http_status=200,
            latency_ms=attempts[-1].latency_ms,
            route_reason="requested model",
            usage=TokenCounts(input_tokens=tin, output_tokens=tout, cached_input_tokens=cached),
            tags={"team": rng.choice(_TEAMS), "project": f"p{rng.randrange(8)}"}
            if rng.random() < 0.8
            else {},
            attempts=attempts,
            cost=CostEvent(
                cost_event_id=f"{prefix}-{seed}-{i:09d}:cost",
                event_ts=ts,
                tokens=TokenCounts(input_tokens=tin, output_tokens=tout, cached_input_tokens=cached),
                input_per_mtok=price_in,
                output_per_mtok=price_out,
                price_source="synthetic",
                is_priced=True,
                provider_cost=provider_cost,
                markup_pct=Decimal(20),
                markup_amount=markup,
                customer_cost=provider_cost + markup,
            ),
            price=PriceEvent(
                provider=provider,
                model=model,
                input_per_mtok=price_in,
                output_per_mtok=price_out,
                price_source="synthetic",
            ),
        )
