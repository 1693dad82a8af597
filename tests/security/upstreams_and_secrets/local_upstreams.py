"""Local servers and a fake resolver for the egress and upstream-body tests.

``LocalServer`` is a real aiohttp server on loopback that counts what reaches it (a stand-in for
an internal service, a webhook receiver or a hostile own-key endpoint); ``fake_dns`` makes the
running loop's ``getaddrinfo`` (what aiohttp's resolver, httpx's guarded backend and the
registration check all use) answer chosen addresses, in turn, for chosen names.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CHAT_ANSWER = {
    "id": "chatcmpl-local",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


class LocalServer:
    def __init__(self, handler: Handler | None = None) -> None:
        self.hits = 0
        self._handler = handler or self.answer

    async def answer(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(CHAT_ANSWER)

    async def _count(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        return await self._handler(request)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[int]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._count)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield port
        finally:
            await runner.cleanup()


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Resolve each name in ``answers`` to its addresses in turn (the last one repeats); returns
    the log of names looked up."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    looked_up: list[str] = []

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host in answers:
            looked_up.append(host)
            queue = answers[host]
            ip = queue.pop(0) if len(queue) > 1 else queue[0]
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            sockaddr = (ip, int(port or 0), 0, 0) if family == socket.AF_INET6 else (ip, int(port or 0))
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]
        return await real(host, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return looked_up
