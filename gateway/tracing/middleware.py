"""Pure-ASGI: one SERVER span per HTTP request, continuing an incoming W3C ``traceparent``, ended
when the response (for a stream: its last byte) is out. The doors pick the span up from the
request state (``request_trace``) to add the request's outcome and its attempt spans.

With tracing off this is one module attribute read per request: no span, no header parsing.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.propagate import extract
from opentelemetry.propagators.textmap import Getter
from opentelemetry.semconv.attributes import error_attributes, http_attributes, url_attributes
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.tracing import setup
from gateway.tracing.spans import REQUEST_ID, RequestTrace, operation_of

SPAN_KEY = "onevault_trace_span"  # in the request state (``request.state``), for the doors


class _HeaderGetter(Getter[Scope]):
    """Reads the ASGI header list for the propagator (names arrive lower-cased)."""

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        wanted = key.lower().encode()
        found = [v.decode("latin-1") for k, v in carrier["headers"] if k == wanted]
        return found or None

    def keys(self, carrier: Scope) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier["headers"]]


_GETTER = _HeaderGetter()


class TraceRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = setup.TRACER
        if tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        span = tracer.start_span(
            method,  # renamed "{method} {route}" once routing has matched
            context=extract(scope, getter=_GETTER),  # OTEL_PROPAGATORS: tracecontext,baggage
            kind=SpanKind.SERVER,
            attributes={
                http_attributes.HTTP_REQUEST_METHOD: method,
                url_attributes.URL_PATH: scope["path"],
                url_attributes.URL_SCHEME: scope.get("scheme", "http"),
            },
        )
        state: dict[str, Any] = scope.setdefault("state", {})
        state[SPAN_KEY] = span
        status, error_type = 500, None

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except BaseException as exc:
            error_type = type(exc).__qualname__
            raise
        finally:
            attributes: dict[str, Any] = {http_attributes.HTTP_RESPONSE_STATUS_CODE: status}
            route = getattr(scope.get("route"), "path", None)
            if route:
                span.update_name(f"{method} {route}")
                attributes[http_attributes.HTTP_ROUTE] = route
            if state.get("request_id"):
                attributes[REQUEST_ID] = state["request_id"]
            if status >= 500 or error_type is not None:
                attributes[error_attributes.ERROR_TYPE] = error_type or str(status)
                span.set_status(Status(StatusCode.ERROR))
            span.set_attributes(attributes)
            span.end()


def request_trace(scope: Scope, endpoint: str) -> RequestTrace | None:
    """The traced request's handle for the pipeline; None when tracing is off."""
    span = scope.get("state", {}).get(SPAN_KEY)
    tracer = setup.TRACER
    if span is None or tracer is None:
        return None
    return RequestTrace(tracer, span, operation_of(endpoint))
