"""Every adapter against the running simulator: answers, usage mapping, and each injected fault."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from gateway.providers.base import API_STYLES, ProviderEndpoint, get_adapter
from gateway.providers.http import UpstreamClient
from gateway.providers.types import ChatMessage, ChatRequest, ChatResponse, ProviderError, StreamChunk, Usage
from gateway.simulator import SimulatorServer

EndpointFactory = Callable[..., ProviderEndpoint]

SYSTEM = "You are a careful data vault modeller."  # 38 chars -> 10 tokens at ~4 chars/token
PROMPT = "Explain why satellites are insert-only in a data vault."  # 55 chars -> 14 tokens
INPUT_TOKENS = 10 + 14
# Wire formats that report hidden reasoning apart from visible output.
REPORTS_REASONING = {"openai", "openai_compatible", "azure_openai", "gemini"}


def chat(model: str = "sim-model", **kwargs: object) -> ChatRequest:
    return ChatRequest(model, [ChatMessage("system", SYSTEM), ChatMessage("user", PROMPT)], **kwargs)  # type: ignore[arg-type]


async def collect(
    client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest
) -> tuple[list[StreamChunk], ProviderError | None]:
    chunks: list[StreamChunk] = []
    try:
        async for chunk in get_adapter(endpoint.api_style).stream(client, endpoint, request):
            chunks.append(chunk)
    except ProviderError as err:
        return chunks, err
    return chunks, None


async def complete(client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest) -> ChatResponse:
    return await get_adapter(endpoint.api_style).complete(client, endpoint, request)


async def failure(
    client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest, *, streaming: bool
) -> tuple[ProviderError, str]:
    """The error a call raises, and (streaming) the text yielded before it."""
    if streaming:
        chunks, error = await collect(client, endpoint, request)
        assert error is not None, "the stream should have failed"
        return error, "".join(c.delta for c in chunks)
    with pytest.raises(ProviderError) as info:
        await complete(client, endpoint, request)
    return info.value, ""


def assert_safe(err: ProviderError, key: str) -> None:
    for text in (str(err), repr(err)):
        assert key not in text
        assert PROMPT not in text and SYSTEM not in text


@pytest.mark.parametrize("api_style", API_STYLES)
async def test_complete_and_stream_give_the_same_answer(
    api_style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint(api_style)
    response = await complete(client, endpoint, chat())
    chunks, error = await collect(client, endpoint, chat())

    assert error is None
    assert response.text.startswith("Simulated reply to: Explain why satellites are insert-only")
    assert len(response.text.split()) == 64  # the default output length, one token per word
    assert "".join(c.delta for c in chunks) == response.text
    assert response.finish_reason == "stop"
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]
    assert response.usage == Usage(input_tokens=INPUT_TOKENS, output_tokens=64)
    assert [c.usage for c in chunks if c.usage] == [response.usage]
    assert chunks[-1].usage == response.usage  # usage comes on the final chunk only
    assert response.provider_request_id


@pytest.mark.parametrize("api_style", API_STYLES)
async def test_cached_and_reasoning_tokens_are_mapped(
    api_style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    sim.simulator.configure(cached_fraction=0.5, output_tokens=40, reasoning_ratio=0.5)
    endpoint = sim_endpoint(api_style)
    request = chat("o3-mini")
    response = await complete(client, endpoint, request)
    chunks, error = await collect(client, endpoint, request)

    reasoning = 20 if api_style in REPORTS_REASONING else 0
    expected = Usage(
        input_tokens=INPUT_TOKENS,
        output_tokens=40 + 20,  # hidden reasoning is output in every adapter
        cached_input_tokens=INPUT_TOKENS // 2,
        reasoning_tokens=reasoning,
    )
    assert response.usage == expected
    assert error is None and chunks[-1].usage == expected


@pytest.mark.parametrize("api_style", API_STYLES)
async def test_max_tokens_truncates_with_length(
    api_style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint(api_style)
    response = await complete(client, endpoint, chat(max_tokens=5))
    chunks, _ = await collect(client, endpoint, chat(max_tokens=5))
    assert response.text == "Simulated reply to: Explain why"
    assert response.finish_reason == "length"
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["length"]
    assert response.usage.output_tokens == 5


@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("api_style", API_STYLES)
async def test_http_429_is_rate_limited_with_retry_after(
    api_style: str,
    streaming: bool,
    sim: SimulatorServer,
    sim_endpoint: EndpointFactory,
    client: UpstreamClient,
    secret_key: str,
) -> None:
    sim.simulator.inject("http_429", count=1, retry_after=0.25)
    err, delivered = await failure(client, sim_endpoint(api_style), chat(), streaming=streaming)
    assert (err.error_class, err.status, err.retry_after) == ("rate_limited", 429, 0.25)
    assert err.retryable and delivered == ""
    assert_safe(err, secret_key)
    assert (await complete(client, sim_endpoint(api_style), chat())).text  # count=1: the next call works


@pytest.mark.parametrize("status", [500, 503])
@pytest.mark.parametrize("api_style", API_STYLES)
async def test_http_5xx_is_server_error(
    api_style: str,
    status: int,
    sim: SimulatorServer,
    sim_endpoint: EndpointFactory,
    client: UpstreamClient,
    secret_key: str,
) -> None:
    sim.simulator.inject(f"http_{status}", count=2)
    for streaming in (False, True):
        err, _ = await failure(client, sim_endpoint(api_style), chat(), streaming=streaming)
        assert (err.error_class, err.status, err.retryable) == ("server_error", status, True)
        assert_safe(err, secret_key)


@pytest.mark.parametrize("api_style", API_STYLES)
async def test_timeout_with_a_short_endpoint_timeout(
    api_style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    sim.simulator.inject("timeout", count=2)  # stalls 5 s (the session's timeout_fault_s)
    endpoint = sim_endpoint(api_style, timeout_s=0.2)
    for streaming in (False, True):
        started = time.perf_counter()
        err, _ = await failure(client, endpoint, chat(), streaming=streaming)
        assert err.error_class == "timeout" and err.retryable
        assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("api_style", API_STYLES)
async def test_garbage_json_is_bad_response(
    api_style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    sim.simulator.inject("garbage_json", count=2)
    for streaming in (False, True):
        err, delivered = await failure(client, sim_endpoint(api_style), chat(), streaming=streaming)
        assert err.error_class == "bad_response" and not err.retryable
        assert delivered == ""


@pytest.mark.parametrize("api_style", API_STYLES)
async def test_broken_stream_yields_partial_text_then_raises(
    api_style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint(api_style)
    full = (await complete(client, endpoint, chat())).text
    sim.simulator.inject("broken_stream", count=1)
    err, delivered = await failure(client, endpoint, chat(), streaming=True)
    assert err.error_class == "stream_broken" and err.retryable
    assert delivered and full.startswith(delivered) and len(delivered) < len(full)


@pytest.mark.parametrize("api_style", API_STYLES)
async def test_latency_fault_delays_but_answers(
    api_style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    sim.simulator.inject("latency", count=1, latency_ms=150)
    started = time.perf_counter()
    response = await complete(client, sim_endpoint(api_style), chat())
    assert time.perf_counter() - started >= 0.15
    assert response.text


@pytest.mark.parametrize("api_style", API_STYLES)
async def test_invalid_key_is_auth(
    api_style: str, sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    endpoint = sim_endpoint(api_style, api_key="invalid")
    for streaming in (False, True):
        err, _ = await failure(client, endpoint, chat(), streaming=streaming)
        assert (err.error_class, err.status, err.retryable) == ("auth", 401, False)
    assert sim.simulator.stats.snapshot()["total"] == 0  # refused before it counted as a call


async def test_fault_filters_pick_the_call(
    sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient
) -> None:
    sim.simulator.inject("http_500", match={"model": "other-model"})
    sim.simulator.inject("http_503", match={"api_style": "anthropic"})
    assert (await complete(client, sim_endpoint("openai"), chat())).text
    err, _ = await failure(client, sim_endpoint("openai"), chat("other-model"), streaming=False)
    assert err.status == 500
    err, _ = await failure(client, sim_endpoint("anthropic"), chat(), streaming=False)
    assert err.status == 503
    err, _ = await failure(client, sim_endpoint("anthropic"), chat(), streaming=False)  # count null: persists
    assert err.status == 503


async def test_the_simulator_sees_each_wire_format(
    sim: SimulatorServer, sim_endpoint: EndpointFactory, client: UpstreamClient, secret_key: str
) -> None:
    """What reached the provider: system placement, roles, deployment routing, no key in stats."""
    azure = sim_endpoint("azure_openai", deployments={"gpt-4o": "prod-gpt4o"})
    await complete(client, sim_endpoint("anthropic"), chat("claude-3-5-haiku-latest"))
    await complete(client, sim_endpoint("gemini"), chat("gemini-1.5-flash"))
    await complete(client, azure, chat("gpt-4o"))
    await complete(client, sim_endpoint("openai_compatible"), chat("llama3"))

    stats = sim.simulator.stats.snapshot()
    assert stats["by_api_style"] == {"anthropic": 1, "gemini": 1, "azure_openai": 1, "openai": 1}
    assert stats["by_model"] == {
        "claude-3-5-haiku-latest": 1,
        "gemini-1.5-flash": 1,
        "prod-gpt4o": 1,
        "llama3": 1,
    }
    anthropic, gemini, azure_call, compatible = stats["recent"]
    assert anthropic["body"]["system"] == SYSTEM
    assert [m["role"] for m in anthropic["body"]["messages"]] == ["user"]
    assert anthropic["headers"]["x-api-key"] == "***"
    assert gemini["body"]["systemInstruction"] == {"parts": [{"text": SYSTEM}]}
    assert gemini["headers"]["x-goog-api-key"] == "***"
    assert azure_call["path"] == "/openai/deployments/prod-gpt4o/chat/completions"
    assert azure_call["query"] == {"api-version": "2024-10-21"}
    assert compatible["body"] == {
        "model": "llama3",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
    }
    assert secret_key not in str(stats)
