"""OpenTelemetry traces of gateway requests (docs/operations/tracing-and-dashboards.md): off
unless configured, and then free: no span objects, no header parsing."""

from gateway.tracing.middleware import TraceRequests, request_trace
from gateway.tracing.setup import start, stop
from gateway.tracing.spans import RequestTrace, abandon, end_attempt, first_chunk

__all__ = [
    "RequestTrace",
    "TraceRequests",
    "abandon",
    "end_attempt",
    "first_chunk",
    "request_trace",
    "start",
    "stop",
]
