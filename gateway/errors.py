"""The one error envelope: ``{"error": {"code", "message", "request_id", "details"?}}``."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from gateway import metrics
from gateway.recording.spool import SpoolError

log = logging.getLogger("onevault.errors")

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
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details is not None:
        body["details"] = details
    metrics.child(metrics.ERRORS, code).inc()
    return Response(
        orjson.dumps({"error": body}),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": request_id, **(headers or {})},
    )


def _validation_details(exc: RequestValidationError) -> tuple[int, str, str, list[dict[str, Any]]]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed_json", "The request body is not valid JSON.", []
    details = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")), "type": str(e.get("type"))}
        for e in errors
    ]
    return 422, "validation_error", "The request body failed validation.", details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(
            exc.status,
            exc.code,
            exc.message,
            request_id_of(request),
            details=exc.details,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        status, code, message, details = _validation_details(exc)
        return error_response(status, code, message, request_id_of(request), details=details or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code
        return error_response(exc.status_code, code, message, request_id_of(request))

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
        return error_response(503, "recording_unavailable", message, rid, headers={"retry-after": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        rid = request_id_of(request)
        log.exception("unhandled error in %s (request %s)", request.url.path, rid)
        return error_response(500, "internal_error", "An internal error occurred.", rid)
