"""Provider performance page: p50/p95/p99 latency, error rate and availability per provider and
model over time, from marts.provider_performance_5m (index window_start; provider, model,
window_start).

The 5-minute windows are rolled up to buckets that suit the range (5 minutes up to 6 hours,
hours up to 2 days, days beyond). Rates are exact (Σ failures / Σ attempts); a bucket's latency
percentiles are its windows' percentiles weighted by successful tries — an approximation, since
percentiles do not add up, and marked as such on the page. The mart is platform-wide (every
customer's tries): a customer sees the latency and rates (the "live provider comparison") but not
the platform's volumes or costs, which are None in a customer scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from gateway.console.data.relations import exist
from gateway.console.data.scope import Scope, ScopedQuery


@dataclass(frozen=True, slots=True)
class PerformancePoint:
    bucket_start: datetime
    provider: str
    model: str
    attempts: int | None  # None in a customer scope
    p50_latency_ms: Decimal | None
    p95_latency_ms: Decimal | None
    p99_latency_ms: Decimal | None
    error_rate: Decimal | None
    availability: Decimal | None


@dataclass(frozen=True, slots=True)
class PerformanceSummary:
    provider: str
    model: str
    attempts: int | None  # None in a customer scope
    failures: int | None
    failures_rate_limited: int | None
    failures_server_error: int | None
    failures_timeout: int | None
    failures_other: int | None
    p50_latency_ms: Decimal | None
    p95_latency_ms: Decimal | None
    p99_latency_ms: Decimal | None
    error_rate: Decimal | None
    availability: Decimal | None
    cost_per_1k_tokens: Decimal | None  # None in a customer scope


@dataclass(frozen=True, slots=True)
class PerformanceSeries:
    since: datetime
    until: datetime
    bucket: timedelta
    summaries: tuple[PerformanceSummary, ...]  # by provider, model
    points: tuple[PerformancePoint, ...]  # by bucket, provider, model
    volumes_shown: bool  # False in a customer scope


_CLASSES = ("rate_limited", "server_error", "timeout", "other")


def bucket_for(since: datetime, until: datetime) -> timedelta:
    span = until - since
    if span <= timedelta(hours=6):
        return timedelta(minutes=5)
    if span <= timedelta(days=2):
        return timedelta(hours=1)
    return timedelta(days=1)


_RATES = (
    ",\n".join(
        f"sum(successes * {c}) / nullif(sum(successes) filter (where {c} is not null), 0) as {c}"
        for c in ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms")
    )
    + """,
    round(sum(failures)::numeric / nullif(sum(attempts), 0), 6) as error_rate,
    round(sum(successes)::numeric / nullif(sum(attempts), 0), 6) as availability
"""
)


def _ms(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(Decimal("0.1"))


async def provider_performance(
    pool: asyncpg.Pool,
    scope: Scope,
    *,
    since: datetime,
    until: datetime,
    provider: str | None = None,
    model: str | None = None,
) -> PerformanceSeries:
    """Windows starting in [since, until), per provider and model."""
    bucket = bucket_for(since, until)
    volumes = scope.is_operator
    if not await exist(pool, "marts.provider_performance_5m"):
        return PerformanceSeries(since, until, bucket, (), (), volumes)
    q = ScopedQuery(scope)
    q.platform_wide(customers_may_see=True)
    where = [f"window_start >= {q.arg(since)}", f"window_start < {q.arg(until)}"]
    if provider:
        where.append(f"provider = {q.arg(provider)}")
    if model:
        where.append(f"model = {q.arg(model)}")
    condition = " and ".join(where)
    b = q.arg(bucket)
    sql = f"""
    select grouping(b_start) = 0 as is_point,
           case when grouping(b_start) = 0 then b_start end as bucket_start,
           provider, model,
           sum(attempts)::bigint as attempts, sum(failures)::bigint as failures,
           sum(failures_rate_limited)::bigint as failures_rate_limited,
           sum(failures_server_error)::bigint as failures_server_error,
           sum(failures_timeout)::bigint as failures_timeout,
           sum(failures_other)::bigint as failures_other,
           sum(provider_cost) * 1000 / nullif(sum(input_tokens + output_tokens), 0) as cost_per_1k_tokens,
           {_RATES}
    from (
        select *, date_bin({b}, window_start, timestamptz '1970-01-01 00:00:00+00') as b_start
        from marts.provider_performance_5m where {condition}
    ) w
    group by grouping sets ((provider, model), (b_start, provider, model))
    order by 2 nulls first, 3, 4
    """
    rows = await q.fetch(pool, sql)
    summaries, points = [], []
    for r in rows:
        rates = (*(_ms(r[f"p{p}_latency_ms"]) for p in (50, 95, 99)), r["error_rate"], r["availability"])
        if r["is_point"]:
            points.append(
                PerformancePoint(
                    r["bucket_start"], r["provider"], r["model"], r["attempts"] if volumes else None, *rates
                )
            )
        else:
            names = ("attempts", "failures", *(f"failures_{c}" for c in _CLASSES))
            counts = {n: (r[n] if volumes else None) for n in names}
            p50, p95, p99, error_rate, availability = rates
            summaries.append(
                PerformanceSummary(
                    r["provider"],
                    r["model"],
                    **counts,
                    p50_latency_ms=p50,
                    p95_latency_ms=p95,
                    p99_latency_ms=p99,
                    error_rate=error_rate,
                    availability=availability,
                    cost_per_1k_tokens=r["cost_per_1k_tokens"] if volumes else None,
                )
            )
    return PerformanceSeries(since, until, bucket, tuple(summaries), tuple(points), volumes)
