"""A hostile own-key endpoint that sends an endless body must not exhaust the gateway's memory:
whole answers, streamed lines and streamed events are bounded (ONEVAULT_UPSTREAM_MAX_BODY_BYTES,
ONEVAULT_UPSTREAM_MAX_EVENT_BYTES), and the tenant gets a clear upstream error quickly."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiohttp import web

from gateway.crypto.keyring import admin_token
from gateway.egress import EgressPolicy
from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.http import create_http_client
from gateway.providers.types import ChatMessage, ChatRequest, ProviderError
from tests.gateway.e2e.conftest import issue_key
from tests.security.conftest import StartGateway
from tests.security.upstreams_and_secrets.local_upstreams import LocalServer
from warehouse.settings import Settings

MIB = 1024 * 1024
PING = ChatRequest("o3-mini", [ChatMessage("user", "ping")])
Piece = Callable[[int], bytes]


def endless(
    content_type: str, first: bytes, piece: Piece
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler that answers 200 and then writes ``piece(n)`` for ever (until the peer leaves)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": content_type})
        await response.prepare(request)
        await response.write(first)
        n = 0
        try:
            while True:
                await response.write(piece(n))
                n += 1
        except (ConnectionError, RuntimeError):
            pass
        return response

    return handler


HOSTILE = {
    "an endless JSON body": endless("application/json", b'{"id": "', lambda n: b"x" * 65536),
    "an endless stream line": endless("text/event-stream", b"data: ", lambda n: b"x" * 65536),
    "an endless stream event": endless("text/event-stream", b"", lambda n: b"data: x\n" * 8192),
    "endless small events": endless(
        "text/event-stream",
        b"",
        lambda n: b'data: {"id":"c","object":"chat.completion.chunk","choices":[]}\n\n' * 500,
    ),
}


CASES = [(kind, stream) for kind in HOSTILE for stream in (False, True) if not (stream and "JSON" in kind)]


@pytest.mark.parametrize(
    ("kind", "stream"), CASES, ids=[f"{k}-{'streamed' if s else 'whole'}" for k, s in CASES]
)
async def test_endless_upstream_bodies_are_cut_off(kind: str, stream: bool) -> None:
    hostile = LocalServer(HOSTILE[kind])
    async with hostile.running() as port:
        client = create_http_client(
            trust_env=False,
            customer_egress=EgressPolicy.parse("127.0.0.1"),
            max_body_bytes=4 * MIB,
            max_event_bytes=256 * 1024,
        )
        own = ProviderEndpoint("openai", f"http://127.0.0.1:{port}/v1", "sk-tenant", customer_url=True)
        adapter = get_adapter("openai")
        t0 = time.monotonic()
        try:
            with pytest.raises(ProviderError) as cut:
                if stream:
                    async for _ in adapter.stream(client, own, PING):
                        pass
                else:
                    await adapter.complete(client, own, PING)
        finally:
            await client.aclose()
    assert cut.value.error_class == "bad_response" and "larger than" in cut.value.message
    assert time.monotonic() - t0 < 10


async def test_the_gateway_answers_a_clear_error_and_stays_up(
    start_gateway: StartGateway, vault_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    hostile = LocalServer(HOSTILE["an endless JSON body"])
    async with hostile.running() as port:
        server = await start_gateway(tmp_path, upstream_max_body_bytes=2 * MIB)  # loopback allow-listed
        key, _ = await issue_key(vault_pool)
        token = admin_token(Settings(home=tmp_path))
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            added = await c.post(
                "/admin/v1/customers/acme/provider-keys",
                headers={"authorization": f"Bearer {token}"},
                json={
                    "provider": "openai",
                    "api_style": "openai",
                    "secret": "sk-tenant-own",
                    "base_url": f"http://127.0.0.1:{port}/v1",
                },
            )
            assert added.status_code == 201, added.text
            ask = {"model": "o3-mini", "messages": [{"role": "user", "content": "hi"}]}
            headers = {"authorization": f"Bearer {key}"}
            t0 = time.monotonic()
            cut = await c.post("/v1/chat/completions", headers=headers, json=ask)
            elapsed = time.monotonic() - t0
            healthy = await c.post(
                "/v1/chat/completions", headers=headers, json={**ask, "model": "claude-3-5-haiku-latest"}
            )
    assert cut.status_code == 502, cut.text
    error = cut.json()["error"]
    assert error["code"] == "upstream_error" and "larger than" in error["message"]
    assert elapsed < 15 and hostile.hits == 1  # not retried: another try would be as large
    assert healthy.status_code == 200, healthy.text
