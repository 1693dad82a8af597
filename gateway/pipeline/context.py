"""What a request carries through the pipeline and what it ends as."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gateway.auth.principal import Principal
from gateway.control_plane.provider_keys import CustomerProviderKey
from gateway.enforcement.budget import Reservation
from gateway.enforcement.concurrency import Lease
from gateway.enforcement.credits import CreditHold
from gateway.errors import ApiError
from gateway.pricing import CostBreakdown, ModelPrice
from gateway.providers.errors import tenant_code, tenant_param, tenant_text
from gateway.providers.types import ProviderError, ToolCall, Usage
from gateway.routing.catalog import ProviderRoute
from gateway.routing.rules import RoutingRule
from warehouse.events import AttemptEvent

if TYPE_CHECKING:
    from gateway.tracing import RequestTrace

Candidates = list[tuple[ProviderRoute, str]]  # (route, model) in the order they will be tried
Clock = Callable[[], datetime]  # stamps request and attempt times; the demo shifts it into a past month


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class CallContext:
    request_id: str
    principal: Principal
    endpoint: str
    requested_model: str | None
    requested_provider: str | None = None
    request_type: str | None = None
    priority: str | None = None
    max_cost: Decimal | None = None
    end_user: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    client_ip: str | None = None
    user_agent: str | None = None
    stream: bool = False
    request_ts: datetime = field(default_factory=utc_now)
    started: float = field(default_factory=time.perf_counter)
    reservation: Reservation | None = None  # budget held until the request settles
    lease: Lease | None = None  # concurrency slots held until the request settles
    credit_hold: CreditHold | None = None  # a prepaid wallet's hold (gateway/enforcement/credits.py)
    response_headers: dict[str, str] = field(default_factory=dict)  # e.g. x-ratelimit-*
    customer_keys: dict[str, CustomerProviderKey] = field(default_factory=dict)  # by provider name
    routing_rule: RoutingRule | None = None  # the customer's rule that chose the candidates
    data_rule: RoutingRule | None = None  # the first matching rule: its pii/cache options apply
    downgraded: bool = False  # a budget ran out and the rule's cheaper route serves instead
    key_hold: tuple[str, Reservation] | None = None  # (provider, reservation) on the customer's own key
    key_refusals: list[tuple[int, str]] = field(default_factory=list)  # own keys that could not serve
    # Caches, privacy, retention (gateway/pipeline/data_stages.py)
    cache_request: dict[str, Any] | None = None  # the request's own {"mode", "ttl"}, if it gave one
    data: Any = None  # DataStages' per-request state (policy, cache key, what was sent)
    compliance_flags: list[str] = field(default_factory=list)  # pii:<type>, never values
    pii_actions: list[str] = field(default_factory=list)  # <action>:<type>
    # What the request used, recorded for spend by feature (set by the service from the request)
    tools_offered: int = 0
    input_modalities: list[str] = field(default_factory=lambda: ["text"])
    response_format: str | None = None
    reasoning_effort: str | None = None
    dropped_params: list[str] = field(default_factory=list)  # drop_unsupported_params removed these
    param_drops: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # per candidate
    door: str = "chat"  # which wire the client speaks (chat | native | responses | messages)
    trace: RequestTrace | None = None  # the request's spans (gateway/tracing); None: not traced

    def provider_key_id(self, provider: str) -> str | None:
        """The customer's own key used for ``provider`` (None: the platform's key)."""
        key = self.customer_keys.get(provider)
        return key.key_id if key is not None else None


@dataclass(slots=True)
class Outcome:
    route: ProviderRoute
    model: str
    text: str
    finish_reason: str | None
    usage: Usage
    cost: CostBreakdown
    price: ModelPrice | None
    attempts: list[AttemptEvent]
    route_reason: str
    latency_ms: float
    upstream_latency_ms: float
    status: str = "success"
    error: ProviderError | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    reasoning: str | None = None
    validation_status: str = "not_applicable"  # passed | failed | not_applicable
    validation_errors: list[dict[str, str]] = field(default_factory=list)
    logprobs: list[dict[str, Any]] | None = None
    usage_source: str = "provider"  # what the cost was computed from (warehouse/events.py UsageSource)
    thinking_blocks: list[dict[str, Any]] = field(default_factory=list)  # Anthropic's signed thinking


@dataclass(slots=True)
class StreamSummary:
    """Yielded last by ``stream``: what the final SSE chunk reports."""

    outcome: Outcome


FINAL_STATUS = {
    "timeout": (504, "upstream_timeout"),
    "rate_limited": (429, "upstream_rate_limited"),
    "bad_request": (400, "upstream_rejected_request"),
    "not_found": (404, "upstream_model_not_found"),
    "circuit_open": (503, "upstream_unavailable"),
    "auth": (502, "upstream_auth_failed"),
    "invalid_output": (422, "output_validation_failed"),
}
DEFAULT_RETRY_AFTER_S = 1


def final_error(err: ProviderError) -> ApiError:
    """The client's error once every attempt failed. What an SDK must understand: an upstream
    429 stays a 429 with ``retry-after``; a wrong own key is a 502 the SDK must not retry
    (``x-should-retry: false``); a provider's 400 keeps its code and param
    (``context_length_exceeded`` / ``messages``). The provider's own words reach the tenant
    only short and scrubbed (``tenant_text``: no credentials, URLs or upstream addresses)."""
    status, code = FINAL_STATUS.get(err.error_class, (502, "upstream_error"))
    headers: dict[str, str] = {}
    if err.retry_after:
        headers["retry-after"] = str(max(1, round(err.retry_after)))
    elif status == 429:
        headers["retry-after"] = str(DEFAULT_RETRY_AFTER_S)
    if err.error_class in ("auth", "bad_request", "not_found", "invalid_output"):
        headers["x-should-retry"] = "false"
    if err.error_class == "bad_request" and tenant_code(err.code):
        code = err.code  # type: ignore[assignment]
    message = f"All upstream attempts failed; last: {err.error_class}: {tenant_text(str(err))}"
    if err.error_class == "invalid_output":  # our own validation's words, about the tenant's answer
        message = f"The answer did not match the response_format's json_schema: {err}"[:500]
    return ApiError(
        status, code, message, headers=headers, param=tenant_param(err.param), details=err.details
    )
