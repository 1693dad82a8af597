"""Shared request plumbing: the authenticated principal and the call context."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from gateway.auth.principal import AuthThrottled, AuthUnavailable, KeyStore, Principal
from gateway.errors import ApiError, request_id_of
from gateway.pipeline import CallContext, CompletionService
from gateway.tracing import request_trace


@dataclass(slots=True)
class Services:
    keys: KeyStore
    completions: CompletionService


def services(request: Request) -> Services:
    return request.app.state.services


def presented_key(request: Request) -> str | None:
    """The OneVault key as each client family sends it: ``Authorization: Bearer`` (OpenAI SDKs),
    ``x-api-key`` (Anthropic SDKs, Claude Code) or ``api-key`` (Azure OpenAI clients)."""
    headers = request.headers
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    for name in ("x-api-key", "api-key"):
        value = headers.get(name, "").strip()
        if value:
            return value
    return None


async def principal(request: Request) -> Principal:
    key = presented_key(request)
    if key is None:
        raise ApiError(
            401,
            "missing_api_key",
            "Send your OneVault key as 'Authorization: Bearer <key>' (or 'x-api-key' / 'api-key').",
            headers={"www-authenticate": "Bearer"},
        )
    try:
        found = await services(request).keys.authenticate(
            key, request.client.host if request.client else None
        )
    except AuthThrottled as throttled:
        raise ApiError(
            429,
            "auth_throttled",
            "Too many failed authentications from this address; retry in "
            f"{throttled.retry_after}s with a valid key.",
            headers={"retry-after": str(throttled.retry_after)},
        ) from None
    except AuthUnavailable:
        raise ApiError(
            503,
            "auth_unavailable",
            "The key could not be checked in time; retry shortly.",
            headers={"retry-after": "1"},
        ) from None
    if found is None:
        raise ApiError(
            401,
            "invalid_api_key",
            "The API key is invalid, revoked or expired.",
            headers={"www-authenticate": "Bearer"},
        )
    return found


def base_context(request: Request, who: Principal, *, endpoint: str, model: str | None) -> CallContext:
    return CallContext(
        request_id=request_id_of(request),
        principal=who,
        endpoint=endpoint,
        requested_model=model,
        request_ts=services(request).completions.clock(),
        client_ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        trace=request_trace(request.scope, endpoint),
    )
