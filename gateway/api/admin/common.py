"""What every admin route shares: the admin-token check, auditing of every call (refused ones
included), request bodies bounded by the vault's column types, and money-safe JSON."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.admin.audit import AdminAction, audited, refused_status
from gateway.admin.customers import (
    AdminError,
)
from gateway.auth.throttle import FailureThrottle
from gateway.errors import ApiError

T = TypeVar("T")


def _no_control_characters(value: Any, where: str = "body") -> None:
    if isinstance(value, str):
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError(f"{where}: control characters are not accepted")
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_control_characters(k, where)
            _no_control_characters(v, f"{where}.{k}")
    elif isinstance(value, list):
        for v in value:
            _no_control_characters(v, where)


class AdminBody(BaseModel):
    """Admin bodies: unknown fields refused, and no control characters anywhere — every string
    lands in the vault (PostgreSQL text cannot hold NUL) or in an operator's terminal."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _printable(cls, data: Any) -> Any:
        _no_control_characters(data)
        return data


# Bounds follow the vault's column types, so a value that passes here can always be recorded.
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


def json_safe(value: Any) -> Any:
    """JSON-safe without floats: money stays a decimal string, times ISO 8601, bytes hex."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def admin_actor(request: Request) -> str:
    """The caller's identity for the audit trail; 401 (recorded) without the admin token.

    Refusals are queued for a batched write (``gateway.admin.refusals``), and counted per source
    address: past ``ONEVAULT_ADMIN_FAILURES_PER_MINUTE`` the caller gets 429 and only the first
    refusal over the limit is recorded, so a flood costs neither a transaction per call nor
    unbounded audit rows. The right token is never throttled.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected: str = request.app.state.admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        throttle: FailureThrottle = request.app.state.admin_failures
        failures = await throttle.failed(_client_ip(request))
        over = failures > throttle.per_minute
        if failures <= throttle.per_minute + 1:
            request.app.state.admin_refusals.record(
                _action(
                    request,
                    "unauthenticated",
                    f"{request.method} {request.url.path}",
                    None,
                    None,
                    "refused",
                    429 if over else 401,
                    "missing or wrong admin token"
                    + (
                        "; throttled: further refusals from this address this minute are not recorded"
                        if over
                        else ""
                    ),
                )
            )
        if over:
            retry = throttle.retry_after()
            raise ApiError(
                429,
                "admin_throttled",
                f"Too many refused admin calls from this address; retry in {retry}s.",
                headers={"retry-after": str(retry)},
            )
        raise ApiError(
            401,
            "invalid_admin_token",
            "The admin API needs 'Authorization: Bearer <admin token>'.",
            headers={"www-authenticate": "Bearer"},
        )
    who = request.headers.get("x-onevault-actor", "").strip()[:120]
    return f"admin-token:{who}" if who else "admin-token"


def _action(
    request: Request,
    actor: str,
    action: str,
    target: str | None,
    customer: str | None,
    outcome: str,
    status: int,
    detail: str | None,
) -> AdminAction:
    return AdminAction(
        actor,
        action,
        target,
        outcome,
        status,
        detail,
        customer,
        _client_ip(request),
        request.headers.get("user-agent"),
    )


async def audited_call(
    request: Request,
    actor: str,
    action: str,
    target: str | None,
    customer: str | None,
    run: Callable[[], Awaitable[T]],
    *,
    detail: str | None = None,
    status: int = 200,
) -> T:
    call = AdminAction(
        actor,
        action,
        target,
        "ok",
        status,
        detail,
        customer,
        _client_ip(request),
        request.headers.get("user-agent"),
    )
    try:
        return await audited(request.app.state.pool, call, run)
    except AdminError as exc:
        status = refused_status(str(exc))
        raise ApiError(status, "admin_refused", str(exc), param=getattr(exc, "field", None)) from exc


def given_fields(body: BaseModel) -> dict[str, Any]:
    return {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
