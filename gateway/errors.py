"""The one error envelope: ``{"error": {"code", "message", "type", "param", "request_id", "details"?}}``.

``type`` and ``param`` are OpenAI's (``invalid_request_error``, ``authentication_error``, ...;
``param`` names the offending field or is null), so the official SDKs raise the matching
exception class and show the field; ``code`` stays OneVault's own. On the API routes (``/v1/``)
a body that fails validation is a 400 ``invalid_request_error`` naming the field as ``param``;
the admin API keeps 422 for its own bodies.

A door whose clients expect another provider's error shape registers a renderer for its path
(``register_error_renderer``: the Messages door renders Anthropic's ``{"type": "error", ...}``);
every handler here, and so every error before the route runs (401s, validation), uses it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gateway import metrics
from gateway.recording.spool import SpoolError

log = logging.getLogger("onevault.errors")

# OpenAI's error ``type`` for a status (what its SDKs and most clients switch on).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "upstream_error",
    503: "unavailable",
    504: "upstream_timeout",
}


def new_request_id() -> str:
    """Time-ordered, unguessable request ids (sortable in logs and the vault)."""
    return f"req_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(8)}"


def request_id_of(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.state.request_id = new_request_id()
    return rid


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
        param: str | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.param = param
        self.type = type or error_type(status)

    def body(self, request_id: str) -> dict[str, Any]:
        """The envelope's inner object (also what a stream's error event carries)."""
        return error_body(self.code, self.message, request_id, self.type, self.param, self.details)


def error_body(
    code: str,
    message: str,
    request_id: str,
    type: str,
    param: str | None = None,
    details: Any = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "type": type,
        "param": param,
        "request_id": request_id,
    }
    if details is not None:
        body["details"] = details
    return body


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
    type: str | None = None,
) -> Response:
    body = error_body(code, message, request_id, type or error_type(status), param, details)
    metrics.child(metrics.ERRORS, code).inc()
    return Response(
        orjson.dumps({"error": body}),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id, **(headers or {})},
    )


ErrorRenderer = Callable[..., Response]  # error_response's signature
_RENDERERS: dict[str, ErrorRenderer] = {}


def register_error_renderer(path: str, renderer: ErrorRenderer) -> None:
    """Render the errors of ``path`` and the paths under it with ``renderer``."""
    _RENDERERS[path.rstrip("/")] = renderer


def renderer_for(path: str) -> ErrorRenderer:
    """The error renderer of a request path: a door's own, else the OneVault envelope."""
    for prefix, renderer in _RENDERERS.items():
        if path == prefix or path.startswith(f"{prefix}/"):
            return renderer
    return error_response


_UNION_LABELS = ("function-", "union[", "tagged-union")
_TYPE_LABELS = frozenset({"str", "int", "float", "bool", "none", "is-instance"})


def _is_union_label(part: Any) -> bool:
    return isinstance(part, str) and (part in _TYPE_LABELS or part.startswith(_UNION_LABELS) or "[" in part)


def param_path(loc: tuple[Any, ...] | list[Any]) -> str | None:
    """``("body", "messages", 0, "content")`` → ``messages[0].content`` (OpenAI's ``param`` form)."""
    out = ""
    for part in loc:
        if part == "body" and not out:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_union_label(part):
            continue  # pydantic's union branch labels, not fields
        else:
            out += f".{part}" if out else str(part)
    return out or None


def _validation_details(
    exc: RequestValidationError, api_route: bool
) -> tuple[int, str, str, list[dict[str, Any]], str | None]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed_json", "The request body is not valid JSON.", [], None
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")), "type": str(e.get("type"))}
        for e in errors
    ]
    first = errors[0] if errors else {}
    param = param_path(first.get("loc", ()))
    message = (
        f"The request body failed validation: {first.get('msg')}."
        if first
        else "The request body failed validation."
    )
    if param:
        message = f"Invalid value for '{param}': {first.get('msg')}."
    if first.get("type") == "extra_forbidden" and param:
        message = f"Unrecognized request argument supplied: {param}."
    return (400 if api_route else 422), "validation_error", message, details, param


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return renderer_for(request.url.path)(
            exc.status,
            exc.code,
            exc.message,
            request_id_of(request),
            details=exc.details,
            headers=exc.headers,
            param=exc.param,
            type=exc.type,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        api_route = request.url.path.startswith("/v1/")
        status, code, message, details, param = _validation_details(exc, api_route)
        return renderer_for(request.url.path)(
            status, code, message, request_id_of(request), details=details or None, param=param
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return renderer_for(request.url.path)(exc.status_code, code, message, request_id_of(request))

    @app.exception_handler(SpoolError)
    async def _unrecorded(request: Request, exc: SpoolError) -> Response:
        # Redis refused the event and the local spool cannot take it: answering without a
        # record would lose a billable request, so the request fails (ARCHITECTURE, failure rules).
        rid = request_id_of(request)
        log.error("request %s refused, it could not be recorded: %s", rid, exc)
        message = (
            "This request could not be recorded: the event stream is unreachable and the gateway's "
            "local spool cannot be written (disk full or read-only). Retry shortly."
        )
        render = renderer_for(request.url.path)
        return render(503, "recording_unavailable", message, rid, headers={"retry-after": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        rid = request_id_of(request)
        log.exception("unhandled error in %s (request %s)", request.url.path, rid)
        return renderer_for(request.url.path)(500, "internal_error", "An internal error occurred.", rid)
