"""The simulator at the HTTP level: each provider's wire shapes, validation, errors and streams."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest

from gateway.simulator import SimulatorServer

OPENAI_AUTH = {"authorization": "Bearer sk-sim"}
ANTHROPIC_AUTH = {"x-api-key": "sk-ant-sim", "anthropic-version": "2023-06-01"}
GEMINI_AUTH = {"x-goog-api-key": "AIza-sim"}
PROMPT = "How do hubs and links differ?"  # 29 chars -> 8 tokens

OPENAI_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]}
ANTHROPIC_BODY = {
    "model": "claude-3-5-haiku-latest",
    "max_tokens": 32,
    "system": "Be brief.",
    "messages": [{"role": "user", "content": PROMPT}],
}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
COHERE_BODY = {"model": "command-r", "messages": [{"role": "user", "content": PROMPT}]}

# (api_style, path, headers, body) for one valid call of every wire format
CALLS: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
    "openai": ("/v1/chat/completions", OPENAI_AUTH, OPENAI_BODY),
    "azure_openai": (
        "/openai/deployments/dep-1/chat/completions?api-version=2024-10-21",
        {"api-key": "azure-sim"},
        {"messages": OPENAI_BODY["messages"]},
    ),
    "anthropic": ("/v1/messages", ANTHROPIC_AUTH, ANTHROPIC_BODY),
    "gemini": ("/v1beta/models/gemini-1.5-flash:generateContent", GEMINI_AUTH, GEMINI_BODY),
    "cohere": ("/v2/chat", OPENAI_AUTH, COHERE_BODY),
}


KEY_HEADERS = {"authorization", "api-key", "x-api-key", "x-goog-api-key"}


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    """The same headers carrying another API key."""
    return {
        name: (f"Bearer {key}" if name == "authorization" else key) if name in KEY_HEADERS else value
        for name, value in headers.items()
    }


@pytest.fixture
async def http(sim: SimulatorServer):
    async with httpx.AsyncClient(base_url=sim.url, trust_env=False, timeout=10) as client:
        yield client


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """(event, data) pairs of an SSE body, checking its framing on the way."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        event, data = None, None
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            if name == "event":
                event = value
            else:
                assert name == "data", f"unexpected SSE line {line!r}"
                data = value
        assert data is not None
        events.append((event, data))
    return events


# -- answers ---------------------------------------------------------------------------------------


async def test_openai_completion_shape_and_determinism(http: httpx.AsyncClient) -> None:
    first = (await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=OPENAI_BODY)).json()
    second = (await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=OPENAI_BODY)).json()

    assert first["object"] == "chat.completion" and first["model"] == "gpt-4o-mini"
    assert first["id"].startswith("chatcmpl-") and first["id"] != second["id"]
    choice = first["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert choice["message"]["content"].startswith(f"Simulated reply to: {PROMPT}")
    assert choice["message"]["content"] == second["choices"][0]["message"]["content"]
    assert first["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 64,
        "total_tokens": 72,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


async def test_seed_changes_only_the_filler(http: httpx.AsyncClient, sim: SimulatorServer) -> None:
    body = {**OPENAI_BODY, "max_tokens": 20}
    before = (await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)).json()
    sim.simulator.configure(seed=99)
    after = (await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)).json()
    a, b = (r["choices"][0]["message"]["content"] for r in (before, after))
    assert a != b and a.split()[:9] == b.split()[:9]  # the prompt echo stays, filler words move
    assert len(a.split()) == len(b.split()) == 20


async def test_input_tokens_about_four_chars_each(http: httpx.AsyncClient) -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "x" * 9},  # 3 tokens
            {"role": "user", "content": [{"type": "text", "text": "y" * 8}]},  # 2 tokens, parts form
            {"role": "assistant", "content": ""},  # at least 1
        ],
    }
    usage = (await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)).json()["usage"]
    assert usage["prompt_tokens"] == 6


async def test_openai_stream_framing_and_usage_only_when_asked(http: httpx.AsyncClient) -> None:
    body = {**OPENAI_BODY, "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 4}
    response = await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.content)
    assert all(event is None for event, _ in events)
    assert events[-1][1] == "[DONE]"
    chunks = [orjson.loads(data) for _, data in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Simulated reply to: How"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4

    plain = await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json={**OPENAI_BODY, "stream": True})
    assert all("usage" not in orjson.loads(d) for _, d in sse_events(plain.content)[:-1])


async def test_azure_stream_opens_with_prompt_filter_results(http: httpx.AsyncClient) -> None:
    path, headers, body = CALLS["azure_openai"]
    response = await http.post(path, headers=headers, json={**body, "stream": True})
    first = orjson.loads(sse_events(response.content)[0][1])
    assert first["choices"] == [] and first["prompt_filter_results"]


async def test_anthropic_stream_event_sequence(http: httpx.AsyncClient, sim: SimulatorServer) -> None:
    sim.simulator.configure(cached_fraction=0.5)
    response = await http.post(
        "/v1/messages", headers=ANTHROPIC_AUTH, json={**ANTHROPIC_BODY, "stream": True}
    )
    events = sse_events(response.content)
    names = [event for event, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"} and len(names[3:-3]) == 32
    for event, data in events:
        assert orjson.loads(data)["type"] == event  # the data's type always names the event
    start = orjson.loads(events[0][1])["message"]["usage"]
    # prompt = "Be brief." (3) + PROMPT (8) = 11; Anthropic's input_tokens excludes the cached 5
    assert (start["input_tokens"], start["cache_read_input_tokens"]) == (6, 5)
    delta = orjson.loads(events[-2][1])
    assert delta["delta"]["stop_reason"] == "max_tokens" and delta["usage"] == {"output_tokens": 32}


async def test_gemini_stream_sse_and_json_array(http: httpx.AsyncClient) -> None:
    path = "/v1beta/models/gemini-1.5-flash:streamGenerateContent"
    sse = await http.post(f"{path}?alt=sse", headers=GEMINI_AUTH, json=GEMINI_BODY)
    events = [orjson.loads(data) for _, data in sse_events(sse.content)]
    assert "finishReason" not in events[0]["candidates"][0]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == 64

    array = await http.post(path, headers=GEMINI_AUTH, json=GEMINI_BODY)
    parsed = array.json()  # without alt=sse Gemini streams one JSON array
    assert [e["candidates"][0]["content"]["parts"][0]["text"] for e in parsed] == [
        e["candidates"][0]["content"]["parts"][0]["text"] for e in events
    ]


async def test_gemini_key_as_query_parameter_and_v1_path(
    http: httpx.AsyncClient, sim: SimulatorServer
) -> None:
    response = await http.post("/v1/models/gemini-pro:generateContent?key=AIza-q", json=GEMINI_BODY)
    assert response.status_code == 200
    assert sim.simulator.stats.snapshot()["recent"][-1]["query"] == {"key": "***"}


async def test_cohere_stream_events(http: httpx.AsyncClient) -> None:
    response = await http.post("/v2/chat", headers=OPENAI_AUTH, json={**COHERE_BODY, "stream": True})
    events = sse_events(response.content)
    names = [event for event, _ in events]
    assert names[:2] == ["message-start", "content-start"] and names[-2:] == ["content-end", "message-end"]
    end = orjson.loads(events[-1][1])
    assert end["delta"]["finish_reason"] == "COMPLETE"
    assert end["delta"]["usage"]["billed_units"] == {"input_tokens": 8, "output_tokens": 64}


async def test_reasoning_models_report_hidden_tokens(http: httpx.AsyncClient) -> None:
    body = {**OPENAI_BODY, "model": "o1-preview"}
    usage = (await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)).json()["usage"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 32
    assert usage["completion_tokens"] == 64 + 32
    meta = (
        await http.post(
            "/v1beta/models/gemini-2.0-flash-thinking-exp:generateContent",
            headers=GEMINI_AUTH,
            json=GEMINI_BODY,
        )
    ).json()["usageMetadata"]
    assert (meta["candidatesTokenCount"], meta["thoughtsTokenCount"]) == (64, 32)


# -- validation and errors --------------------------------------------------------------------------

ERROR_SHAPES = {
    "openai": lambda b: set(b) == {"error"} and set(b["error"]) == {"message", "type", "param", "code"},
    "azure_openai": lambda b: set(b) == {"error"} and {"message", "code"} <= set(b["error"]),
    "anthropic": lambda b: b["type"] == "error" and set(b["error"]) == {"type", "message"},
    "gemini": lambda b: set(b) == {"error"} and {"code", "message", "status"} <= set(b["error"]),
    "cohere": lambda b: set(b) == {"message"},
}


@pytest.mark.parametrize("api_style", sorted(CALLS))
async def test_auth_errors_in_each_providers_shape(api_style: str, http: httpx.AsyncClient) -> None:
    path, headers, body = CALLS[api_style]
    assert (await http.post(path, headers=headers, json=body)).status_code == 200
    without_key = {k: v for k, v in headers.items() if k not in KEY_HEADERS}
    missing = await http.post(path, headers=without_key, json=body)
    invalid = await http.post(path, headers=with_key(headers, "invalid"), json=body)
    for response in (missing, invalid):
        assert response.status_code == 401
        assert ERROR_SHAPES[api_style](response.json())
    if api_style == "anthropic":
        assert invalid.json()["error"]["type"] == "authentication_error"
    if api_style == "gemini":
        assert invalid.json()["error"]["status"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("api_style", sorted(CALLS))
async def test_429_retry_hint_where_each_provider_puts_it(
    api_style: str, http: httpx.AsyncClient, sim: SimulatorServer
) -> None:
    path, headers, body = CALLS[api_style]
    sim.simulator.inject("http_429", count=1, retry_after=3)
    response = await http.post(path, headers=headers, json=body)
    assert response.status_code == 429
    assert ERROR_SHAPES[api_style](response.json())
    if api_style == "gemini":
        assert "retry-after" not in response.headers
        assert response.json()["error"]["details"][0]["retryDelay"] == "3s"
        assert response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    else:
        assert response.headers["retry-after"] == "3"
    if api_style == "anthropic":
        assert response.json()["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize(
    ("api_style", "path", "headers", "body", "status", "needle"),
    [
        ("openai", "/v1/chat/completions", OPENAI_AUTH, {"model": "m"}, 400, "messages"),
        (
            "openai",
            "/v1/chat/completions",
            OPENAI_AUTH,
            {**OPENAI_BODY, "stream_options": {"include_usage": True}},
            400,
            "stream_options",
        ),
        ("openai", "/v1/chat/completions", OPENAI_AUTH, {**OPENAI_BODY, "max_tokens": 0}, 400, "max_tokens"),
        (
            "azure_openai",
            "/openai/deployments/d/chat/completions",
            {"api-key": "k"},
            OPENAI_BODY,
            404,
            "Resource not found",
        ),
        ("anthropic", "/v1/messages", {"x-api-key": "k"}, ANTHROPIC_BODY, 400, "anthropic-version"),
        (
            "anthropic",
            "/v1/messages",
            ANTHROPIC_AUTH,
            {**ANTHROPIC_BODY, "max_tokens": None},
            400,
            "max_tokens",
        ),
        (
            "anthropic",
            "/v1/messages",
            ANTHROPIC_AUTH,
            {**ANTHROPIC_BODY, "messages": [{"role": "system", "content": "x"}, *ANTHROPIC_BODY["messages"]]},
            400,
            "top-level `system`",
        ),
        (
            "gemini",
            "/v1beta/models/g:generateContent",
            GEMINI_AUTH,
            {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
            400,
            "valid role",
        ),
        ("gemini", "/v1beta/models/g:countTokens", GEMINI_AUTH, GEMINI_BODY, 404, "countTokens"),
        ("cohere", "/v2/chat", OPENAI_AUTH, {"messages": COHERE_BODY["messages"]}, 400, "model"),
    ],
)
async def test_requests_the_real_provider_would_reject(
    api_style: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    status: int,
    needle: str,
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(path, headers=headers, json=body)
    assert response.status_code == status
    assert ERROR_SHAPES[api_style](response.json())
    assert needle in response.text


async def test_body_that_is_not_json(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", headers=OPENAI_AUTH, content=b"{nope")
    assert response.status_code == 400 and ERROR_SHAPES["openai"](response.json())


# -- behaviour knobs ----------------------------------------------------------------------------------


async def test_header_fault_is_one_off(http: httpx.AsyncClient) -> None:
    faulted = await http.post(
        "/v1/chat/completions", headers={**OPENAI_AUTH, "x-sim-fault": "http_503"}, json=OPENAI_BODY
    )
    assert faulted.status_code == 503 and faulted.json()["error"]["type"] == "server_error"
    garbage = await http.post(
        "/v1/chat/completions", headers={**OPENAI_AUTH, "x-sim-fault": "garbage_json"}, json=OPENAI_BODY
    )
    assert garbage.status_code == 200
    with pytest.raises(ValueError):
        garbage.json()
    assert (await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=OPENAI_BODY)).status_code == 200


async def test_broken_stream_ends_without_terminal_event(
    http: httpx.AsyncClient, sim: SimulatorServer
) -> None:
    sim.simulator.inject("broken_stream", count=1)
    body = {**OPENAI_BODY, "stream": True}
    raw = (await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=body)).content
    assert b"[DONE]" not in raw and b'finish_reason":"stop' not in raw
    assert raw.endswith(b'data: {"partial": tr')  # cut in the middle of an event
    assert len(sse_events(raw.rsplit(b"\n\n", 1)[0] + b"\n\n")) == 1 + 32  # role chunk + half the deltas


async def test_latency_and_chunk_delay(http: httpx.AsyncClient, sim: SimulatorServer) -> None:
    sim.simulator.configure(latency_ms=100)
    started = time.perf_counter()
    await http.post("/v1/chat/completions", headers=OPENAI_AUTH, json=OPENAI_BODY)
    assert time.perf_counter() - started >= 0.1

    sim.simulator.configure(latency_ms=0, stream_chunk_delay_ms=30, output_tokens=4)
    arrivals = []
    started = time.perf_counter()
    async with http.stream(
        "POST", "/v1/chat/completions", headers=OPENAI_AUTH, json={**OPENAI_BODY, "stream": True}
    ) as response:
        async for _ in response.aiter_raw():
            arrivals.append(time.perf_counter() - started)
    assert arrivals[-1] >= 4 * 0.03
    assert len(arrivals) >= 3  # delivered over time, not in one piece


async def test_tokens_per_chunk(http: httpx.AsyncClient, sim: SimulatorServer) -> None:
    sim.simulator.configure(tokens_per_chunk=4, output_tokens=10)
    raw = (await http.post("/v2/chat", headers=OPENAI_AUTH, json={**COHERE_BODY, "stream": True})).content
    deltas = [e for e, _ in sse_events(raw) if e == "content-delta"]
    assert len(deltas) == 3  # 4 + 4 + 2 tokens
