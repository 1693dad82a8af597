"""Pure-ASGI request counting: status and end-to-end duration per endpoint.

Labels use the route template only for known endpoints ("other" for the rest) so a scanner
probing random paths cannot blow up the metric's cardinality.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics

KNOWN = frozenset(
    {
        "/v1/ai/completions",
        "/v1/chat/completions",
        "/v1/ai/models",
        "/health",
        "/ready",
        "/metrics",
        # every other front door, so the dashboard shows traffic per door
        "/v1/responses",
        "/v1/messages",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/ai/embeddings",
        "/v1/images/generations",
        "/v1/models",
    }
)


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in KNOWN else "other"
        started = time.perf_counter()
        status = 500

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            metrics.child(metrics.REQUESTS, endpoint, str(status)).inc()
            metrics.child(metrics.REQUEST_DURATION, endpoint).observe(time.perf_counter() - started)
