"""Canonical types, endpoint config, the adapter registry, error classification and SSE parsing."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from gateway.providers.base import (
    API_STYLES,
    ProviderAdapter,
    ProviderEndpoint,
    UnknownApiStyleError,
    get_adapter,
)
from gateway.providers.errors import (
    MAX_PROVIDER_MESSAGE,
    error_class_for_status,
    error_from_response,
    parse_retry_after,
    provider_message,
    sanitise,
    transport_error,
)
from gateway.providers.http import create_http_client, timeout_for
from gateway.providers.sse import SseEvent, iter_sse
from gateway.providers.types import ERROR_CLASSES, ProviderError, Usage

# -- types ------------------------------------------------------------------------------------


def test_usage_total_is_input_plus_output() -> None:
    assert (
        Usage(input_tokens=10, output_tokens=5, cached_input_tokens=8, reasoning_tokens=3).total_tokens == 15
    )


@pytest.mark.parametrize("error_class", sorted(ERROR_CLASSES))
def test_retryable_classes(error_class: str) -> None:
    retryable = {"rate_limited", "server_error", "timeout", "connection", "stream_broken"}
    assert ProviderError(error_class, "x").retryable is (error_class in retryable)


def test_provider_error_rejects_unknown_class() -> None:
    with pytest.raises(ValueError, match="unknown provider error class"):
        ProviderError("kaboom", "x")


def test_provider_error_keeps_fields_through_pickle() -> None:
    err = ProviderError("rate_limited", "slow down", status=429, retry_after=2.5)
    back = pickle.loads(pickle.dumps(err))
    assert (back.error_class, str(back), back.status, back.retry_after) == (
        "rate_limited",
        "slow down",
        429,
        2.5,
    )


# -- endpoint and registry ----------------------------------------------------------------------


def test_endpoint_repr_never_shows_the_key(secret_key: str) -> None:
    endpoint = ProviderEndpoint("openai", "https://api.openai.com/v1/", secret_key)
    assert secret_key not in repr(endpoint)
    assert secret_key not in str(endpoint)
    assert endpoint.base_url == "https://api.openai.com/v1"  # trailing slash dropped


@pytest.mark.parametrize(
    ("base_url", "timeout_s"), [("api.openai.com/v1", 60.0), ("https://x", 0.0), ("https://x", -1.0)]
)
def test_endpoint_validates(base_url: str, timeout_s: float) -> None:
    with pytest.raises(ValueError):
        ProviderEndpoint("openai", base_url, "k", timeout_s=timeout_s)


@pytest.mark.parametrize("api_style", API_STYLES)
def test_registry_returns_one_adapter_per_style(api_style: str) -> None:
    adapter = get_adapter(api_style)
    assert adapter is get_adapter(api_style)
    assert adapter.api_style == api_style
    assert isinstance(adapter, ProviderAdapter)


def test_registry_unknown_style_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError) as info:
        get_adapter("bedrock")
    assert isinstance(info.value, UnknownApiStyleError)
    assert "no provider adapter for api_style 'bedrock'" in str(info.value)
    assert "openai" in str(info.value)


async def test_http_client_has_no_default_timeout_and_a_big_pool() -> None:
    client = create_http_client()
    try:
        assert client.timeout == httpx.Timeout(None)
        transport = client._transport  # type: ignore[attr-defined]
        assert isinstance(transport, AiohttpTransport)
        assert transport.limits.max_connections == 1000
        assert transport.limits.keepalive_expiry == 30.0
    finally:
        await client.aclose()
    assert timeout_for(ProviderEndpoint("openai", "https://x", "k", timeout_s=7)) == httpx.Timeout(7)


# -- error classification -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, "rate_limited"),
        (500, "server_error"),
        (502, "server_error"),
        (503, "server_error"),
        (529, "server_error"),
        (401, "auth"),
        (403, "auth"),
        (404, "not_found"),
        (400, "bad_request"),
        (413, "bad_request"),
        (422, "bad_request"),
        (408, "timeout"),
        (302, "bad_response"),
    ],
)
def test_status_classes(status: int, expected: str) -> None:
    assert error_class_for_status(status) == expected


def test_retry_after_forms() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(httpx.Headers({"retry-after": "7"})) == 7.0
    assert parse_retry_after(httpx.Headers({"retry-after": "1.5"})) == 1.5
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "1"})) == 0.25
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": date}), now=now) == 30.0
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": past}), now=now) == 0.0
    assert parse_retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert parse_retry_after(httpx.Headers({})) is None


def test_sanitise_scrubs_the_key_and_truncates(secret_key: str) -> None:
    text = f"bad key {secret_key}\n\n" + "x" * 1000
    clean = sanitise(text, secret_key)
    assert secret_key not in clean
    assert "\n" not in clean
    assert len(clean) == MAX_PROVIDER_MESSAGE


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": {"message": "openai style", "type": "x"}}', "openai style"),
        (
            b'{"type": "error", "error": {"type": "api_error", "message": "anthropic style"}}',
            "anthropic style",
        ),
        (b'{"error": {"code": 500, "message": "gemini style", "status": "INTERNAL"}}', "gemini style"),
        (b'{"message": "cohere style"}', "cohere style"),
        (b'[{"error": {"code": 503, "message": "gemini array"}}]', "gemini array"),
        (b"upstream connect error", "upstream connect error"),
        (b"<html><body>502 Bad Gateway</body></html>", None),
        (b"", None),
    ],
)
def test_provider_message_shapes(body: bytes, expected: str | None) -> None:
    assert provider_message(body) == expected


def test_error_from_response_scrubs_key_echoed_by_provider(secret_key: str) -> None:
    body = b'{"error": {"message": "Incorrect API key provided: ' + secret_key.encode() + b'"}}'
    response = httpx.Response(401, content=body)
    err = error_from_response("openai", response, secret_key)
    assert err.error_class == "auth" and err.status == 401
    assert secret_key not in str(err) and secret_key not in repr(err)
    assert "Incorrect API key provided" in str(err)


def test_transport_errors() -> None:
    request = httpx.Request("POST", "https://x")
    assert transport_error("openai", httpx.ReadTimeout("t", request=request), None).error_class == "timeout"
    assert (
        transport_error("openai", httpx.ConnectError("c", request=request), None).error_class == "connection"
    )
    broken = transport_error("openai", httpx.RemoteProtocolError("r", request=request), None, mid_stream=True)
    assert broken.error_class == "stream_broken"


# -- SSE -------------------------------------------------------------------------------------------


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _events(*lines: str, bare: bool = False) -> list[SseEvent]:
    return [event async for event in iter_sse(_lines(*lines), bare_json_lines=bare)]


async def test_sse_events_names_and_multiline_data() -> None:
    events = await _events(
        ": keep-alive comment",
        "event: message_start",
        'data: {"a":',
        "data: 1}",
        "",
        "data:no-space",
        "",
        "",
        "id: 7",
        "",
    )
    assert events == [SseEvent("message_start", '{"a":\n1}'), SseEvent("message", "no-space")]


async def test_sse_drops_an_event_cut_off_at_end_of_body() -> None:
    assert await _events('data: {"done": true}', "", 'data: {"partial": tr') == [
        SseEvent("message", '{"done": true}')
    ]


async def test_sse_bare_json_lines_only_when_asked() -> None:
    assert await _events('{"type": "x"}', "") == []
    assert await _events('{"type": "x"}', '{"type": "y"}', bare=True) == [
        SseEvent("message", '{"type": "x"}'),
        SseEvent("message", '{"type": "y"}'),
    ]
