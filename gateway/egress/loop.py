"""Refusing the gateway's own calls: a customer base URL that points back at the gateway (under a
public name the address check cannot tell apart) would otherwise recurse without end.

Customer-URL calls carry ``x-onevault-hop: <this deployment's id>`` (gateway/providers/http.py);
a request arriving with this deployment's id is answered 508 ``loop_detected`` before any route
runs. Another OneVault deployment has another id, so chaining two gateways still works.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import error_response, new_request_id

_HEADER = b"x-onevault-hop"


class LoopGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            policy = getattr(scope["app"].state, "egress", None)
            hop = policy.hop_id.encode() if policy is not None and policy.hop_id else b""
            if hop and any(k == _HEADER and v == hop for k, v in scope["headers"]):
                response = error_response(
                    508,
                    "loop_detected",
                    "This request was sent by this gateway to a customer base URL that points back "
                    "at the gateway; it is refused so that it cannot recurse.",
                    new_request_id(),
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
