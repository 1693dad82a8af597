"""Prometheus metrics; names follow the OpenTelemetry GenAI conventions where they exist.

Every label value that a request can choose (a model name, an upstream's error code, a provider
name) is bounded here, once for every metric (``child``): the catalog's listed models always keep
their own series, then the first ``ONEVAULT_METRICS_MAX_MODELS`` other names seen; any name after
that is counted as ``other``. Without the bound, random model names would grow the series (and
the scrape, and Prometheus's memory) without end.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Final

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


OTHER: Final = "other"


class BoundedValues:
    """The values one kind of label may take: the declared ones, then the first ``limit`` others
    seen; later ones read as ``other``. O(1) per call, and a value's answer never changes."""

    __slots__ = ("declared", "limit", "seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.declared: set[str] = set()
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self.declared or value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(value)
        return value


MODELS = BoundedValues(200)
PROVIDERS = BoundedValues(100)
CODES = BoundedValues(200)
# Per metric, which of its labels (in order) are bounded, and by what.
_BOUNDED: Final[dict[Any, tuple[BoundedValues | None, ...]]] = {
    ERRORS: (CODES,),
    UPSTREAM_DURATION: (PROVIDERS, MODELS, None),
    TOKEN_USAGE: (PROVIDERS, MODELS, None),
    COST: (PROVIDERS, MODELS, None),
    UNPRICED: (PROVIDERS, MODELS),
}


def bound_models(limit: int, listed: Iterable[str]) -> None:
    """The gateway's bound (``ONEVAULT_METRICS_MAX_MODELS``) and the catalog's listed models."""
    MODELS.limit = limit
    MODELS.declared.update(listed)


@lru_cache(maxsize=4096)
def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)`` with request-chosen values bounded (see the module docstring),
    memoised: the lookup takes a lock and builds a tuple each call."""
    bounds = _BOUNDED.get(metric)
    if bounds is not None:
        labels = tuple(v if b is None else b(v) for b, v in zip(bounds, labels, strict=True))
    return metric.labels(*labels)
