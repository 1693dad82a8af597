"""The request event: what the gateway emits once per request and the loader turns into rows.

It travels through the Redis stream (and the local spool) as JSON; pydantic validates it at
the loader boundary so a malformed event is rejected before it can touch the vault.
"""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, field_validator

EVENT_VERSION = 1

# What a request's tokens (and so its cost) were counted from: the provider's own usage report,
# or the gateway's estimate when it had none. ``*_after_disconnect``: a streaming client left
# early; the gateway read on (bounded) and got the provider's count, or hit the bound, cancelled
# the upstream and estimated everything it had received (docs/security/money.md).
UsageSource = Literal["provider", "estimate", "provider_after_disconnect", "estimate_after_disconnect"]


def _storable(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL: one in an upstream error message or a header would make
    the event unloadable forever, so it is replaced (U+FFFD) before the event exists at all."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    return value


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    _no_nul = field_validator("*", mode="before")(classmethod(lambda cls, v: _storable(v)))


class TokenCounts(_Event):
    input_tokens: int = Field(0, ge=0)  # all prompt tokens, cached ones included
    output_tokens: int = Field(0, ge=0)  # all completion tokens, reasoning included
    cached_input_tokens: int = Field(0, ge=0)
    reasoning_tokens: int = Field(0, ge=0)
    cache_write_tokens: int = Field(0, ge=0)  # part of input_tokens written to the provider's cache
    audio_input_tokens: int = Field(0, ge=0)  # part of input_tokens that was audio
    image_input_tokens: int = Field(0, ge=0)  # part of input_tokens that was images

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class AttemptEvent(_Event):
    attempt_no: int = Field(ge=1)
    provider: str
    model: str
    provider_key_id: str | None = None
    started_ts: datetime
    latency_ms: float | None = None
    outcome: Literal["success", "error"]
    http_status: int | None = None
    error_class: str | None = None
    error_message: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class PriceEvent(_Event):
    """The unit prices a cost was computed with, so costs stay reproducible after prices change."""

    provider: str
    model: str
    currency: str = "USD"
    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cached_input_per_mtok: Decimal | None = None
    reasoning_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    input_audio_per_mtok: Decimal | None = None
    price_source: str
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class CostEvent(_Event):
    cost_event_id: str
    event_ts: datetime
    charge_class: Literal["regular", "correction"] = "regular"
    currency: str = "USD"
    tokens: TokenCounts
    input_per_mtok: Decimal | None = None
    output_per_mtok: Decimal | None = None
    cached_input_per_mtok: Decimal | None = None
    reasoning_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    input_audio_per_mtok: Decimal | None = None
    price_source: str | None = None
    is_priced: bool
    provider_cost: Decimal
    markup_pct: Decimal
    markup_amount: Decimal
    customer_cost: Decimal
    baseline_model: str | None = None
    baseline_cost: Decimal | None = None
    optimisation: Literal["none", "routing", "cache_exact", "cache_semantic"] = "none"


def _bytes_in(value: object) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return base64.b64decode(value, validate=True)
    raise ValueError("expected bytes or base64 text")


# Bytes in Python, base64 text in the event's JSON.
Base64Bytes = Annotated[
    bytes,
    PlainValidator(_bytes_in),
    PlainSerializer(lambda b: base64.b64encode(b).decode(), when_used="json"),
]


class PayloadEvent(_Event):
    """What was sent and answered, as the customer's retention mode allows (never values in
    clear: SHA-256 digests, and for ``encrypted`` AES-GCM ciphertexts under the customer's data
    key). Bytes travel base64-encoded in the event JSON."""

    retention_mode: Literal["hash", "encrypted"]
    prompt_sha256: Base64Bytes
    completion_sha256: Base64Bytes
    data_key_id: str | None = None
    prompt_nonce: Base64Bytes | None = None
    prompt_ciphertext: Base64Bytes | None = None
    completion_nonce: Base64Bytes | None = None
    completion_ciphertext: Base64Bytes | None = None
    # sql/015: ``encrypted`` retention that could not be sealed (kept as digests): the reason
    seal_error: str | None = Field(default=None, max_length=200)


class RequestEvent(_Event):
    event_version: int = EVENT_VERSION
    request_id: str = Field(min_length=1, max_length=200)
    request_ts: datetime
    completed_ts: datetime | None = None
    endpoint: str
    customer: str = Field(min_length=1)
    gateway_key_id: str | None = None
    end_user: str | None = None
    routing_rule_id: str | None = None
    provider: str | None = None
    model: str | None = None
    provider_key_id: str | None = None
    request_type: str | None = None
    priority: str | None = None
    requested_provider: str | None = None
    requested_model: str | None = None
    stream: bool = False
    status: Literal["success", "error", "rejected"]
    http_status: int
    error_code: str | None = None
    error_message: str | None = None
    finish_reason: str | None = None
    usage_source: UsageSource = "provider"
    # The request's OpenTelemetry trace id (32 lower-case hex digits) when it was traced and sampled
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    latency_ms: float | None = None
    upstream_latency_ms: float | None = None
    route_reason: str | None = None
    cache_status: str | None = None
    max_cost: Decimal | None = None
    usage: TokenCounts = TokenCounts()
    client_ip: str | None = None
    user_agent: str | None = None
    compliance_flags: list[str] = Field(default_factory=list)
    pii_actions: list[str] = Field(default_factory=list)
    # What the request used (full-fidelity traffic): for spend by feature in the marts.
    tools_offered: int = Field(0, ge=0)  # function tools the request offered
    tool_calls_returned: int = Field(0, ge=0)  # tool calls in the answer
    input_modalities: list[str] = Field(default_factory=list)  # text, image, audio, file
    response_format: Literal["text", "json_object", "json_schema"] | None = None
    reasoning_effort: str | None = None
    validation_status: Literal["passed", "failed", "not_applicable"] = "not_applicable"
    dropped_params: list[str] = Field(default_factory=list)  # drop_unsupported_params removed these
    tags: dict[str, str] = Field(default_factory=dict)
    attempts: list[AttemptEvent] = Field(default_factory=list)
    cost: CostEvent | None = None
    price: PriceEvent | None = None
    payload: PayloadEvent | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_defaults=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> RequestEvent:
        return cls.model_validate_json(data)
