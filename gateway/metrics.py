"""Prometheus metrics; names follow the OpenTelemetry GenAI conventions where they exist."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)

REQUESTS = Counter(
    "onevault_requests", "Requests answered by the gateway.", ["endpoint", "status_code"], registry=REGISTRY
)
REQUEST_DURATION = Histogram(
    "onevault_request_duration_seconds",
    "Time to answer a request, end to end.",
    ["endpoint"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
ERRORS = Counter("onevault_errors", "Error responses by error code.", ["code"], registry=REGISTRY)
UPSTREAM_DURATION = Histogram(
    "gen_ai_client_operation_duration_seconds",
    "Duration of one upstream provider call.",
    ["gen_ai_system", "gen_ai_request_model", "error_type"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
TOKEN_USAGE = Histogram(
    "gen_ai_client_token_usage",
    "Tokens used per provider call.",
    ["gen_ai_system", "gen_ai_request_model", "gen_ai_token_type"],
    buckets=_TOKEN_BUCKETS,
    registry=REGISTRY,
)
COST = Counter(
    "onevault_cost_usd",
    "Cost in USD (observability only; the vault is the ledger).",
    ["provider", "model", "kind"],
    registry=REGISTRY,
)
UNPRICED = Counter(
    "onevault_unpriced_requests",
    "Requests whose model had no known price.",
    ["provider", "model"],
    registry=REGISTRY,
)
EVENTS_SPOOLED = Counter(
    "onevault_events_spooled",
    "Events written to the local spool because Redis refused them.",
    registry=REGISTRY,
)
LOADER_LAG = Gauge(
    "onevault_loader_lag_seconds", "Age of the oldest event not yet in the vault.", registry=REGISTRY
)
LOADER_EVENTS = Gauge(
    "onevault_loader_events_loaded", "Events loaded by this process's loader.", registry=REGISTRY
)
LOADER_DEAD_LETTERED = Gauge(
    "onevault_loader_dead_lettered",
    "Entries this process's loader moved to <stream>:dead (malformed, or refused by PostgreSQL).",
    registry=REGISTRY,
)


@lru_cache(maxsize=4096)
def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, memoised: the lookup takes a lock and builds a tuple each call."""
    return metric.labels(*labels)
