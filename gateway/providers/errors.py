"""Turning upstream failures into classified, safe-to-record ``ProviderError``s.

Every message built here is scrubbed of the endpoint's API key (some providers echo a masked
or even full key back in 401 bodies) and truncated, so it can go to logs and the vault as is.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Final

import aiohttp
import orjson
from aiohttp.http_exceptions import ContentEncodingError

from gateway.providers.http import BodyTooLarge, UpstreamResponse, egress_refusal
from gateway.providers.types import ProviderError

MAX_PROVIDER_MESSAGE: Final = 300
MAX_TENANT_DETAIL: Final = 200
_WHITESPACE = re.compile(r"\s+")
# What must never reach a tenant even inside a provider's error text: credentials (auth headers,
# API-key shapes, long opaque tokens) and where the operator's upstreams live (addresses, ports).
_SECRET_HEADER = re.compile(
    r"(?i)\b(authorization|proxy-authorization|x-api-key|api-key|x-goog-api-key|cookie|set-cookie)"
    r"\s*[:=]\s*(bearer\s+|basic\s+)?\S+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_KEY_SHAPE = re.compile(
    r"\b(sk|pk|rk|ak|key|gsk|xai|ghp|ghs|xox[abpr])[-_][A-Za-z0-9_-]{6,}|\bAIza[0-9A-Za-z_-]{16,}"
)
_OPAQUE = re.compile(r"(?=[A-Za-z0-9+/_=-]*\d)[A-Za-z0-9+/_=-]{32,}")  # a long token with a digit
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://\S+")
_ADDRESS = re.compile(
    r"\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b"  # IPv4[:port]
    r"|\[?[0-9a-f]*:[0-9a-f:]+:[0-9a-f]+\]?(:\d+)?"  # IPv6
    r"|\b[\w.-]+:\d{2,5}\b"  # host:port
)
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SAFE_PARAM = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,100}$")


def error_class_for_status(status: int) -> str:
    """The error class for an HTTP status (408 counts as a timeout, 529 as overload)."""
    if status == 429:
        return "rate_limited"
    if status == 408:
        return "timeout"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "bad_request"
    return "bad_response"


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (delta-seconds or HTTP-date).

    ``headers`` is the response's case-insensitive mapping.
    """
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def sanitise(text: str, secret: str | None) -> str:
    """One line, no secret, at most ``MAX_PROVIDER_MESSAGE`` characters."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > MAX_PROVIDER_MESSAGE:
        text = text[: MAX_PROVIDER_MESSAGE - 1] + "…"
    return text


def tenant_text(text: str) -> str:
    """A provider's error text as a tenant may see it: one line, at most ``MAX_TENANT_DETAIL``
    characters, without credentials, URLs or network addresses (what the vault keeps is not
    shortened this much; see ``sanitise``)."""
    text = _SECRET_HEADER.sub(r"\1: ***", text)
    text = _BEARER.sub(r"\1 ***", text)
    text = _URL.sub("[url]", text)
    text = _KEY_SHAPE.sub("***", text)
    text = _OPAQUE.sub("***", text)
    text = _ADDRESS.sub("[address]", text)
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > MAX_TENANT_DETAIL:
        text = text[: MAX_TENANT_DETAIL - 1] + "…"
    return text


def tenant_code(code: str | None) -> str | None:
    """A provider's error code, if it is a plain identifier (never free text in the envelope)."""
    return code if code and _SAFE_CODE.match(code) else None


def tenant_param(param: str | None) -> str | None:
    """A provider's offending-field name, if it looks like one (``messages[0].content``)."""
    return param if param and _SAFE_PARAM.match(param) else None


def scrub(err: ProviderError, secret: str | None) -> ProviderError:
    """The same error with its message sanitised against ``secret``."""
    message = sanitise(err.message, secret)
    if message == err.message:
        return err
    return ProviderError(
        err.error_class,
        message,
        status=err.status,
        retry_after=err.retry_after,
        code=err.code,
        param=err.param,
        details=err.details,
    )


def decode_error_body(content: bytes) -> Any:
    """The error body as JSON, or None when it is not JSON."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def provider_message(content: bytes, body: Any = None) -> str | None:
    """The human message from any provider's error body shape.

    OpenAI/Azure/Anthropic/Gemini nest it as ``error.message``; Cohere puts ``message`` at the
    top. A non-JSON body (a proxy's plain-text error) is used as is unless it is HTML.
    """
    if body is None:
        body = decode_error_body(content)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return body["message"]
        return None
    if isinstance(body, list) and body and isinstance(body[0], dict):  # Gemini stream errors
        return provider_message(b"", body[0])
    text = content.decode("utf-8", "replace").strip()
    return text if text and not text.startswith("<") else None


def provider_code(body: Any) -> tuple[str | None, str | None]:
    """The provider's own error code and offending parameter, where its body names them
    (OpenAI/Azure ``error.code``/``error.param``; Anthropic ``error.type``; Gemini ``error.status``)."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    if not isinstance(code, str) or not code or code.isdigit():
        code = error.get("type") if isinstance(error.get("type"), str) else None
        if code is None and isinstance(error.get("status"), str):
            code = error["status"]
    param = error.get("param")
    return (code[:100] if code else None), (param[:200] if isinstance(param, str) else None)


def error_from_response(
    api_style: str,
    response: UpstreamResponse,
    secret: str | None,
    *,
    error_class: str | None = None,
    retry_after: float | None = None,
    body: Any = None,
) -> ProviderError:
    """A ProviderError for a non-2xx response whose body has been read."""
    status = response.status
    detail = provider_message(response.content, body)
    message = f"{api_style} returned HTTP {status}"
    if detail:
        message = f"{message}: {detail}"
    if retry_after is None:
        retry_after = parse_retry_after(response.headers)
    code, param = provider_code(body if body is not None else decode_error_body(response.content))
    return ProviderError(
        error_class or error_class_for_status(status),
        sanitise(message, secret),
        status=status,
        retry_after=retry_after,
        code=code,
        param=param,
    )


def transport_error(
    api_style: str, exc: BaseException, secret: str | None, *, mid_stream: bool = False
) -> ProviderError:
    """Classify a transport failure (one of ``TRANSPORT_ERRORS``): a timeout, a connection that
    failed or dropped, or a stream cut short once it had started."""
    if isinstance(exc, BodyTooLarge):  # a hostile or broken endpoint: not worth a retry
        return ProviderError("bad_response", sanitise(f"{api_style} answer refused: {exc}", secret))
    refused = egress_refusal(exc)
    if refused is not None:
        return ProviderError("connection", sanitise(f"{api_style} call not made: {refused}", secret))
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    # aiohttp's ServerTimeoutError (connect, pool wait, socket read) subclasses TimeoutError,
    # which asyncio.TimeoutError is.
    if isinstance(exc, TimeoutError):
        where = "mid-stream" if mid_stream else "waiting for the provider"
        return ProviderError("timeout", sanitise(f"{api_style} timed out {where} ({what})", secret))
    if mid_stream:
        return ProviderError("stream_broken", sanitise(f"{api_style} stream broke off ({what})", secret))
    if isinstance(exc, aiohttp.ClientError) and not _undecodable(exc):
        return ProviderError("connection", sanitise(f"{api_style} connection failed ({what})", secret))
    return ProviderError("bad_response", sanitise(f"{api_style} response unreadable ({what})", secret))


def _undecodable(exc: BaseException) -> bool:
    """The body arrived, but its content-encoding (gzip, deflate) is corrupt."""
    return isinstance(exc, aiohttp.ClientPayloadError) and isinstance(exc.__cause__, ContentEncodingError)


def bad_response(api_style: str, what: str, *, status: int | None = None) -> ProviderError:
    """A 2xx answer we cannot use (not JSON, or missing the fields the wire format promises)."""
    return ProviderError(
        "bad_response", sanitise(f"{api_style} sent an unusable response: {what}", None), status=status
    )
