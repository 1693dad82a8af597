"""A real local webhook receiver for alert tests: it checks the HMAC signature as a customer's
endpoint would, and can fail its first deliveries so the worker's retries are exercised."""

from __future__ import annotations

import asyncio
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.alerts.signing import HEADER, verify


class Receiver:
    """Accepts only validly signed deliveries (401 otherwise); the first ``fail_first`` valid ones
    are answered 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.secret = ""
        self.fail_first = fail_first
        self.calls = 0
        self.accepted: list[dict] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        self.calls += 1
        body = await request.body()
        if not verify(self.secret, request.headers.get(HEADER, ""), body):
            return Response(status_code=401)
        if self.calls <= self.fail_first:
            return Response(status_code=500)  # the worker must retry
        self.accepted.append(json.loads(body))
        return Response(status_code=204)

    async def wait_for(self, n: int, timeout: float = 20.0) -> list[dict]:
        """The accepted deliveries once there are ``n`` (the worker delivers in the background)."""
        for _ in range(int(timeout * 10)):
            if len(self.accepted) >= n:
                break
            await asyncio.sleep(0.1)
        return self.accepted
