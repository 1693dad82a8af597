"""A request is one trace: a SERVER span per request (an incoming ``traceparent`` continued) and a
CLIENT span per upstream attempt, named and attributed per the GenAI semantic conventions, and
its trace id in the vault row; with tracing off, nothing of it."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.tracing import setup
from tests.gateway.e2e.conftest import Gateway, wait_for_rows
from tests.gateway.tracing.conftest import wait_for_server_spans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACE_ID_SQL = """
select d.trace_id from raw_vault.sat_api_request_details d
join raw_vault.hub_api_request h using (api_request_hk) where h.api_request_bk = $1
"""


def client(gw: Gateway, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=gw.url, headers={"authorization": f"Bearer {gw.key}", **headers}, timeout=30
    )


def children(spans: InMemorySpanExporter, server: ReadableSpan) -> list[ReadableSpan]:
    found = [
        s
        for s in spans.get_finished_spans()
        if s.parent is not None and s.parent.span_id == server.context.span_id
    ]
    return sorted(found, key=lambda s: s.attributes["onevault.attempt_no"])


async def vault_trace_id(pool: asyncpg.Pool, request_id: str) -> str | None:
    sql = f"select count(*) from raw_vault.hub_api_request where api_request_bk = '{request_id}'"
    assert await wait_for_rows(pool, sql, 1) == 1, f"{request_id} never reached the vault"
    return await pool.fetchval(TRACE_ID_SQL, request_id)


async def test_failover_is_one_server_span_with_an_attempt_span_per_provider(
    gateway: Gateway, spans: InMemorySpanExporter, vault_pool: asyncpg.Pool
) -> None:
    # OpenAI answers garbage (not retried: the next candidate is tried), Azure OpenAI serves.
    gateway.sim.simulator.inject("garbage_json", match={"api_style": "openai"})
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    async with client(gateway, traceparent=traceparent) as c:
        r = await c.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
        )
    assert r.status_code == 200, r.text
    request_id, usage = r.headers["x-request-id"], r.json()["usage"]

    [server] = await wait_for_server_spans(spans)
    # The caller's trace, continued: same trace id, the caller's span as parent.
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and format(server.parent.span_id, "016x") == PARENT_ID
    assert server.parent.is_remote
    assert server.name == "POST /v1/chat/completions"
    a = server.attributes
    assert a["http.response.status_code"] == 200 and a["http.route"] == "/v1/chat/completions"
    assert a["onevault.request_id"] == request_id and a["onevault.customer"] == gateway.customer
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.provider.name"] == "azure.ai.openai" and a["onevault.route"] == "azure_openai"
    assert a["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert a["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["onevault.route_reason"] == "failover" and a["onevault.status"] == "success"
    assert float(a["onevault.cost"]) > 0 and "e" not in a["onevault.cost"].lower()  # fixed-point text

    failed, served = children(spans, server)
    assert failed.kind is served.kind is SpanKind.CLIENT
    assert failed.name == served.name == "chat gpt-4o-mini"
    f, s = failed.attributes, served.attributes
    assert (f["gen_ai.provider.name"], s["gen_ai.provider.name"]) == ("openai", "azure.ai.openai")
    assert f["gen_ai.request.model"] == s["gen_ai.request.model"] == "gpt-4o-mini"
    assert f["server.address"] == s["server.address"] == "127.0.0.1"
    # The failed try: its error, no tokens; the serving try: its tokens and finish reason.
    assert failed.status.status_code is StatusCode.ERROR and f["error.type"] == "bad_response"
    assert "gen_ai.usage.input_tokens" not in f
    assert served.status.status_code is StatusCode.UNSET and "error.type" not in s
    assert s["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert s["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert s["gen_ai.response.finish_reasons"] == ("stop",)
    assert failed.start_time <= failed.end_time <= served.start_time <= served.end_time <= server.end_time

    # The vault row names the trace; the trace names the row.
    assert await vault_trace_id(vault_pool, request_id) == TRACE_ID


async def test_streamed_request_span_ends_with_the_stream_and_has_its_usage(
    gateway: Gateway, spans: InMemorySpanExporter, vault_pool: asyncpg.Pool
) -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "tell me a story"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with client(gateway) as c, c.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        request_id = r.headers["x-request-id"]
        lines = [line async for line in r.aiter_lines() if line.startswith("data: {")]
    assert lines

    [server] = await wait_for_server_spans(spans)
    assert server.parent is None  # no traceparent came: a new trace
    a = server.attributes
    assert a["onevault.request_id"] == request_id and a["gen_ai.request.stream"] is True
    assert a["gen_ai.usage.input_tokens"] > 0 and a["gen_ai.usage.output_tokens"] > 0
    [attempt] = children(spans, server)
    assert attempt.attributes["gen_ai.request.stream"] is True
    assert 0 < attempt.attributes["gen_ai.response.time_to_first_chunk"] < 10  # seconds
    assert attempt.attributes["gen_ai.usage.output_tokens"] == a["gen_ai.usage.output_tokens"]
    assert attempt.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attempt.end_time <= server.end_time  # the request span outlasts the stream it served
    assert await vault_trace_id(vault_pool, request_id) == format(server.context.trace_id, "032x")


async def test_tracing_off_makes_no_spans_and_records_no_trace_id(
    gateway: Gateway, vault_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    real_start = sdk_trace.Tracer.start_span

    def counted(self: sdk_trace.Tracer, name: str, *args: Any, **kwargs: Any) -> Any:
        started.append(name)
        return real_start(self, name, *args, **kwargs)

    monkeypatch.setattr(sdk_trace.Tracer, "start_span", counted)
    assert setup.TRACER is None  # the default: nothing configured
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    async with client(gateway, traceparent=traceparent) as c:
        r = await c.post("/v1/ai/completions", json={"prompt": "hello", "model": "gpt-4o-mini"})
    assert r.status_code == 200, r.text
    assert "traceparent" not in r.headers
    assert await vault_trace_id(vault_pool, r.headers["x-request-id"]) is None
    assert started == []


DOORS = [
    ("/v1/ai/completions", {"prompt": "hi", "model": "gpt-4o-mini"}, "chat"),
    ("/v1/responses", {"model": "gpt-4o-mini", "input": "hi", "store": False}, "chat"),
    (
        "/v1/messages",
        {
            "model": "claude-3-5-sonnet-latest",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hi"}],
        },
        "chat",
    ),
    ("/v1/completions", {"model": "gpt-4o-mini", "prompt": "hi", "max_tokens": 16}, "text_completion"),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}, "embeddings"),
]


async def test_every_door_is_a_server_span_over_its_attempt(
    gateway: Gateway, spans: InMemorySpanExporter
) -> None:
    async with client(gateway) as c:
        for path, body, _ in DOORS:
            r = await c.post(path, json=body)
            assert r.status_code == 200, (path, r.text)
    servers = await wait_for_server_spans(spans, len(DOORS))
    assert [s.attributes["http.route"] for s in servers] == [path for path, _, _ in DOORS]
    for server, (path, body, operation) in zip(servers, DOORS, strict=True):
        assert server.name == f"POST {path}"
        assert server.attributes["gen_ai.operation.name"] == operation
        [attempt] = children(spans, server)
        assert attempt.name == f"{operation} {body['model']}"
        assert attempt.attributes["gen_ai.usage.input_tokens"] > 0


async def test_a_stream_left_early_keeps_its_attempt_span_until_the_usage_is_read_on(
    gateway: Gateway, spans: InMemorySpanExporter, vault_pool: asyncpg.Pool
) -> None:
    gateway.sim.simulator.configure(output_tokens=40, stream_chunk_delay_ms=10)  # ~0.4 s of stream
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "go on"}]}
    async with client(gateway) as c, c.stream("POST", "/v1/chat/completions", json=body) as r:
        request_id = r.headers["x-request-id"]
        async for line in r.aiter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                break  # hang up after the first content chunk
    [server] = await wait_for_server_spans(spans)
    assert format(server.context.trace_id, "032x") == await vault_trace_id(vault_pool, request_id)
    [attempt] = children(spans, server)  # ended once the read-on was recorded
    assert attempt.end_time > server.end_time
    assert attempt.attributes["gen_ai.usage.output_tokens"] == 40  # the provider's count, as billed
    assert attempt.status.status_code is StatusCode.UNSET
