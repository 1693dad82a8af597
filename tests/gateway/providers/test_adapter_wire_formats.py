"""Each adapter against bodies shaped exactly like its provider's documented responses.

A fake ``UpstreamClient`` stands in for the provider (the edge we do not own): the tests check
the outgoing request (URL, headers, body) and the mapping of the recorded answers. Streamed
bodies go through the real line splitting, delivered in small pieces as a network would, and
transport failures are the exceptions aiohttp raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.http import USER_AGENT, UpstreamClient, UpstreamResponse, UpstreamStream
from gateway.providers.openai_compatible import OpenAICompatibleAdapter
from gateway.providers.types import ChatMessage, ChatRequest, ProviderError, StreamChunk, Usage

SSE = {"content-type": "text/event-stream"}
PROMPT = "Explain hubs, links and satellites"
PIECE = 7  # bytes per read, so lines and CRLFs straddle reads the way they do on a real socket

REQUEST = ChatRequest(
    model="test-model",
    messages=[
        ChatMessage("system", "You are terse."),
        ChatMessage("system", "Answer in English."),
        ChatMessage("user", PROMPT),
        ChatMessage("assistant", "Which part?"),
        ChatMessage("tool", "tool output"),
        ChatMessage("user", "All of them."),
    ],
    max_tokens=256,
    temperature=0.2,
    top_p=0.9,
    stop=["END"],
    user="end-user-7",
)


@dataclass(frozen=True, slots=True)
class Sent:
    """One request as it left the gateway."""

    method: str
    url: str
    headers: CIMultiDictProxy[str]
    content: bytes
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Reply:
    """What the fake provider answers: a status, headers, a body, and maybe a lost connection
    after the body's bytes (``then``)."""

    status: int
    headers: Mapping[str, str]
    content: bytes = b""
    then: BaseException | None = None

    async def pieces(self) -> AsyncIterator[bytes]:
        for at in range(0, len(self.content), PIECE):
            yield self.content[at : at + PIECE]
        if self.then is not None:
            raise self.then


def reply(
    status: int, *, headers: Mapping[str, str] | None = None, content: bytes = b"", json: Any = None
) -> Reply:
    if json is not None:
        return Reply(status, {"content-type": "application/json", **(headers or {})}, orjson.dumps(json))
    return Reply(status, headers or {}, content)


Handler = Callable[[Sent], Reply]


class Upstream:
    """A fake provider: records every request and answers with ``respond`` (a handler may raise
    the transport error the client would)."""

    def __init__(self, respond: Reply | Handler) -> None:
        self.respond = respond
        self.requests: list[Sent] = []

    def __call__(self, request: Sent) -> Reply:
        self.requests.append(request)
        return self.respond(request) if callable(self.respond) else self.respond

    @property
    def last(self) -> Sent:
        return self.requests[-1]

    @property
    def body(self) -> Any:
        return orjson.loads(self.last.content)


class FakeClient(UpstreamClient):
    """The shared client's interface, answered by an ``Upstream`` instead of the network."""

    def __init__(self, upstream: Upstream) -> None:
        super().__init__(trust_env=False)
        self.upstream = upstream

    def _send(self, url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> Reply:
        sent_headers = CIMultiDict({"user-agent": USER_AGENT})
        sent_headers.update(headers)
        return self.upstream(Sent("POST", url, CIMultiDictProxy(sent_headers), body, timeout_s))

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> UpstreamResponse:
        answer = self._send(url, headers, body, timeout_s)
        return UpstreamResponse(answer.status, answer.headers, b"".join([p async for p in answer.pieces()]))

    @asynccontextmanager  # type: ignore[override]
    async def stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> AsyncIterator[UpstreamStream]:
        answer = self._send(url, headers, body, timeout_s)
        yield UpstreamStream(answer.status, answer.headers, answer.pieces())


def client_for(upstream: Upstream) -> FakeClient:
    return FakeClient(upstream)


def connection_lost() -> aiohttp.ClientPayloadError:
    """What aiohttp raises when the peer closes in the middle of a chunked body."""
    return aiohttp.ClientPayloadError(
        "Response payload is not completed: <TransferEncodingError: 400, message='Not enough data to "
        "satisfy transfer length header.'>"
    )


def connect_error(host: str, message: str) -> aiohttp.ClientConnectorError:
    key = ConnectionKey(host, 443, True, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, message))


async def complete(
    style: str, endpoint: ProviderEndpoint, upstream: Upstream, request: ChatRequest = REQUEST
):
    async with client_for(upstream) as client:
        return await get_adapter(style).complete(client, endpoint, request)


async def stream(
    style: str, endpoint: ProviderEndpoint, upstream: Upstream, request: ChatRequest = REQUEST
) -> tuple[list[StreamChunk], ProviderError | None]:
    """All chunks yielded, and the error raised after them (if any)."""
    chunks: list[StreamChunk] = []
    async with client_for(upstream) as client:
        try:
            async for chunk in get_adapter(style).stream(client, endpoint, request):
                chunks.append(chunk)
        except ProviderError as err:
            return chunks, err
    return chunks, None


def text_of(chunks: list[StreamChunk]) -> str:
    return "".join(c.delta for c in chunks)


def assert_usage_only_last(chunks: list[StreamChunk]) -> Usage | None:
    with_usage = [i for i, c in enumerate(chunks) if c.usage is not None]
    assert with_usage in ([], [len(chunks) - 1])
    return chunks[-1].usage


# -- OpenAI -----------------------------------------------------------------------------------------

OPENAI = ProviderEndpoint("openai", "https://api.openai.com/v1", "sk-openai-key")


async def test_openai_request_shape_and_response_mapping(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("openai_chat_completion.json")))
    response = await complete("openai", OPENAI, upstream)

    assert str(upstream.last.url) == "https://api.openai.com/v1/chat/completions"
    assert upstream.last.method == "POST"
    assert upstream.last.headers["authorization"] == "Bearer sk-openai-key"
    assert upstream.last.headers["content-type"] == "application/json"
    assert upstream.body == {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "system", "content": "Answer in English."},
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": "Which part?"},
            {"role": "user", "content": "tool output"},
            {"role": "user", "content": "All of them."},
        ],
        "max_completion_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["END"],
        "user": "end-user-7",
    }
    assert response.text == "The vault keeps every version of every row."
    assert response.finish_reason == "stop"
    assert response.model == "o3-mini-2025-01-31"
    assert response.provider_request_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert response.usage == Usage(
        input_tokens=1117, output_tokens=246, cached_input_tokens=1024, reasoning_tokens=192
    )


async def test_openai_stream(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("openai_chat_stream.sse")))
    chunks, error = await stream("openai", OPENAI, upstream)

    assert error is None
    assert upstream.body["stream"] is True
    assert upstream.body["stream_options"] == {"include_usage": True}
    assert text_of(chunks) == "Hello there!"
    assert [c.finish_reason for c in chunks if c.finish_reason] == ["stop"]
    assert assert_usage_only_last(chunks) == Usage(input_tokens=19, output_tokens=3)


async def test_openai_429_carries_retry_after(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(
        reply(429, headers={"retry-after": "20"}, content=provider_fixture("openai_error_429.json"))
    )
    with pytest.raises(ProviderError) as info:
        await complete("openai", OPENAI, upstream)
    err = info.value
    assert (err.error_class, err.status, err.retry_after, err.retryable) == ("rate_limited", 429, 20.0, True)
    assert "Rate limit reached for gpt-4o-mini" in str(err)
    assert PROMPT not in str(err)


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (b"<html>gateway</html>", "not JSON"),
        (b'{"id": "x", "object": "chat.completion"}', "missing field 'choices'"),
        (
            b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, '
            b'"finish_reason": "stop"}]}',
            "missing field 'usage'",
        ),
        (b'{"choices": [], "usage": {}}', "malformed"),
    ],
)
async def test_openai_unusable_bodies_are_bad_response(content: bytes, what: str) -> None:
    with pytest.raises(ProviderError) as info:
        await complete("openai", OPENAI, Upstream(reply(200, content=content)))
    assert info.value.error_class == "bad_response"
    assert what in str(info.value)
    assert not info.value.retryable


async def test_openai_stream_without_done_is_broken_after_the_text(
    provider_fixture: Callable[[str], bytes],
) -> None:
    body = provider_fixture("openai_chat_stream.sse").replace(b"data: [DONE]\n\n", b"")
    chunks, error = await stream("openai", OPENAI, Upstream(reply(200, headers=SSE, content=body)))
    assert text_of(chunks) == "Hello there!"  # everything received was yielded first
    assert error is not None and error.error_class == "stream_broken" and error.retryable


async def test_openai_connection_lost_mid_stream(provider_fixture: Callable[[str], bytes]) -> None:
    events = provider_fixture("openai_chat_stream.sse").split(b"\n\n")
    received = b"\n\n".join(events[:3]) + b"\n\n" + events[3][:40]
    upstream = Upstream(Reply(200, SSE, received, then=connection_lost()))
    chunks, error = await stream("openai", OPENAI, upstream)
    assert text_of(chunks) == "Hello there!"
    assert error is not None and error.error_class == "stream_broken"


async def test_openai_error_event_mid_stream() -> None:
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
        b'data: {"error":{"message":"The server had an error","type":"server_error","code":null}}\n\n'
    )
    chunks, error = await stream("openai", OPENAI, Upstream(reply(200, headers=SSE, content=body)))
    assert text_of(chunks) == "Hi"
    assert error is not None and error.error_class == "server_error"


async def test_openai_garbage_event_is_bad_response() -> None:
    body = b"data: {not json\n\n"
    chunks, error = await stream("openai", OPENAI, Upstream(reply(200, headers=SSE, content=body)))
    assert chunks == []
    assert error is not None and error.error_class == "bad_response"


@pytest.mark.parametrize(
    ("exc", "error_class"),
    [
        (aiohttp.ConnectionTimeoutError("Connection timeout to host https://api.openai.com"), "timeout"),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), "timeout"),
        (TimeoutError(), "timeout"),  # asyncio.TimeoutError: a deadline around the whole call
        (connect_error("api.openai.com", "Connect call failed"), "connection"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "connection"),
        (aiohttp.ServerDisconnectedError(), "connection"),
        (connection_lost(), "connection"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value,
)
@pytest.mark.parametrize("streaming", [False, True])
async def test_transport_failures_before_an_answer(
    exc: BaseException, error_class: str, streaming: bool
) -> None:
    def fail(request: Sent) -> Reply:
        raise exc

    if streaming:
        _, error = await stream("openai", OPENAI, Upstream(fail))
    else:
        with pytest.raises(ProviderError) as info:
            await complete("openai", OPENAI, Upstream(fail))
        error = info.value
    assert error is not None and error.error_class == error_class and error.retryable


async def test_body_cut_short_before_an_answer_is_a_connection_error() -> None:
    """The headers came, the body did not: nothing reached the caller, so it is not mid-stream."""
    cut = Reply(502, {}, b'{"error": {"mess', then=connection_lost())
    for streaming in (False, True):
        if streaming:
            chunks, error = await stream("openai", OPENAI, Upstream(cut))
            assert chunks == []
        else:
            with pytest.raises(ProviderError) as info:
                await complete("openai", OPENAI, Upstream(cut))
            error = info.value
        assert error is not None and (error.error_class, error.retryable) == ("connection", True)


async def test_the_endpoint_timeout_goes_with_every_call(provider_fixture: Callable[[str], bytes]) -> None:
    endpoint = ProviderEndpoint("openai", "https://api.openai.com/v1", "k", timeout_s=7.5)
    upstream = Upstream(reply(200, content=provider_fixture("openai_chat_completion.json")))
    await complete("openai", endpoint, upstream)
    await stream("openai", endpoint, upstream)
    assert [r.timeout_s for r in upstream.requests] == [7.5, 7.5]


async def test_stream_request_answered_with_plain_json(provider_fixture: Callable[[str], bytes]) -> None:
    """A server that ignores stream=true still produces one chunk with text and usage."""
    upstream = Upstream(
        reply(
            200,
            headers={"content-type": "application/json"},
            content=provider_fixture("openai_chat_completion.json"),
        )
    )
    chunks, error = await stream("openai", OPENAI, upstream)
    assert error is None
    assert chunks == [
        StreamChunk(
            "The vault keeps every version of every row.",
            "stop",
            Usage(input_tokens=1117, output_tokens=246, cached_input_tokens=1024, reasoning_tokens=192),
        )
    ]


# -- OpenAI-compatible -------------------------------------------------------------------------------

COMPATIBLE = ProviderEndpoint("openai_compatible", "http://localhost:11434/v1", "ollama")


async def test_compatible_uses_max_tokens_and_estimates_missing_usage() -> None:
    body = {
        "id": "chatcmpl-8",
        "object": "chat.completion",
        "model": "llama3.1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "12345678"}, "finish_reason": "stop"}
        ],
    }
    upstream = Upstream(reply(200, json=body))
    response = await complete("openai_compatible", COMPATIBLE, upstream)
    assert str(upstream.last.url) == "http://localhost:11434/v1/chat/completions"
    assert upstream.body["max_tokens"] == 256 and "max_completion_tokens" not in upstream.body
    assert response.text == "12345678"
    expected_input = sum(-(-len(m.content) // 4) for m in REQUEST.messages)
    assert response.usage == Usage(input_tokens=expected_input, output_tokens=2)


async def test_compatible_stream_tolerates_no_done_no_usage_and_ndjson() -> None:
    sse = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n'
    )
    chunks, error = await stream(
        "openai_compatible", COMPATIBLE, Upstream(reply(200, headers=SSE, content=sse))
    )
    assert error is None and text_of(chunks) == "Hello"
    assert all(c.usage is None for c in chunks)

    ndjson = (
        b'{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n'
        b'{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":1}}\n'
    )
    chunks, error = await stream(
        "openai_compatible", COMPATIBLE, Upstream(reply(200, headers=SSE, content=ndjson))
    )
    assert error is None and text_of(chunks) == "Hi"
    assert assert_usage_only_last(chunks) == Usage(input_tokens=3, output_tokens=1)


async def test_compatible_stream_without_finish_is_still_broken() -> None:
    sse = b'data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
    chunks, error = await stream(
        "openai_compatible", COMPATIBLE, Upstream(reply(200, headers=SSE, content=sse))
    )
    assert text_of(chunks) == "Hel"
    assert error is not None and error.error_class == "stream_broken"


async def test_compatible_retries_without_stream_options_once_and_remembers() -> None:
    done = (
        b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )

    def respond(request: Sent) -> Reply:
        if "stream_options" in orjson.loads(request.content):
            return reply(400, json={"error": {"message": "Unrecognized request argument: stream_options"}})
        return reply(200, headers=SSE, content=done)

    adapter = OpenAICompatibleAdapter()  # fresh: the memory of rejecting servers is per adapter
    endpoint = ProviderEndpoint("openai_compatible", "http://legacy.local/v1", "k")
    upstream = Upstream(respond)
    async with client_for(upstream) as client:
        first = [c async for c in adapter.stream(client, endpoint, REQUEST)]
        second = [c async for c in adapter.stream(client, endpoint, REQUEST)]
    assert text_of(first) == text_of(second) == "ok"
    sent = [orjson.loads(r.content) for r in upstream.requests]
    assert ["stream_options" in b for b in sent] == [True, False, False]


# -- Azure OpenAI -------------------------------------------------------------------------------------

AZURE = ProviderEndpoint(
    "azure_openai", "https://contoso.openai.azure.com", "azure-key-123", deployments={"gpt-4o": "prod-4o"}
)


async def test_azure_url_headers_and_mapping(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("azure_chat_completion.json")))
    response = await complete("azure_openai", AZURE, upstream, ChatRequest("gpt-4o", REQUEST.messages))

    assert str(upstream.last.url) == (
        "https://contoso.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    )
    assert upstream.last.headers["api-key"] == "azure-key-123"
    assert "authorization" not in upstream.last.headers
    assert "model" not in upstream.body  # the deployment decides the model
    assert response.text == "Hubs, links and satellites."
    assert response.finish_reason == "length"
    assert response.model == "gpt-4o-2024-08-06"
    assert response.usage == Usage(input_tokens=2048, output_tokens=7, cached_input_tokens=1536)


async def test_azure_unmapped_model_custom_version_and_openai_suffix(
    provider_fixture: Callable[[str], bytes],
) -> None:
    endpoint = ProviderEndpoint(
        "azure_openai", "https://contoso.openai.azure.com/openai/", "k", api_version="2025-01-01-preview"
    )
    upstream = Upstream(reply(200, content=provider_fixture("azure_chat_completion.json")))
    await complete("azure_openai", endpoint, upstream, ChatRequest("gpt-4o-mini", REQUEST.messages))
    assert str(upstream.last.url) == (
        "https://contoso.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions"
        "?api-version=2025-01-01-preview"
    )


async def test_azure_stream_skips_prompt_filter_preamble(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("azure_chat_stream.sse")))
    chunks, error = await stream("azure_openai", AZURE, upstream, ChatRequest("gpt-4o", REQUEST.messages))
    assert error is None
    assert upstream.body["stream_options"] == {"include_usage": True}
    assert text_of(chunks) == "Insert only."
    assert assert_usage_only_last(chunks) == Usage(input_tokens=12, output_tokens=3)


# -- Anthropic -----------------------------------------------------------------------------------------

ANTHROPIC = ProviderEndpoint("anthropic", "https://api.anthropic.com", "sk-ant-key")


async def test_anthropic_request_shape_and_mapping(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("anthropic_message.json")))
    response = await complete("anthropic", ANTHROPIC, upstream)

    assert str(upstream.last.url) == "https://api.anthropic.com/v1/messages"
    headers = upstream.last.headers
    assert headers["x-api-key"] == "sk-ant-key"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    assert upstream.body == {
        "model": "test-model",
        "max_tokens": 256,
        "system": "You are terse.\n\nAnswer in English.",
        "messages": [
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": "Which part?"},
            {"role": "user", "content": "tool output"},
            {"role": "user", "content": "All of them."},
        ],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "end-user-7"},
    }
    assert response.text == "Satellites hold the descriptive history of each hub."
    assert response.finish_reason == "stop"
    assert response.provider_request_id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    # input_tokens excludes cache reads and writes on Anthropic's wire; canonical input is the whole prompt
    assert response.usage == Usage(
        input_tokens=50 + 200 + 1800, output_tokens=41, cached_input_tokens=1800, cache_write_tokens=200
    )


async def test_anthropic_default_max_tokens_and_version_override(
    provider_fixture: Callable[[str], bytes],
) -> None:
    endpoint = ProviderEndpoint("anthropic", "https://api.anthropic.com/v1", "k", api_version="2024-01-01")
    upstream = Upstream(reply(200, content=provider_fixture("anthropic_message.json")))
    await complete("anthropic", endpoint, upstream, ChatRequest("claude", [ChatMessage("user", "hi")]))
    assert str(upstream.last.url) == "https://api.anthropic.com/v1/messages"
    assert upstream.last.headers["anthropic-version"] == "2024-01-01"
    assert upstream.body == {
        "model": "claude",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
    }


async def test_anthropic_stream(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("anthropic_stream.sse")))
    chunks, error = await stream("anthropic", ANTHROPIC, upstream)
    assert error is None
    assert upstream.body["stream"] is True
    assert text_of(chunks) == "Hello!"
    assert chunks[-1].finish_reason == "length"
    assert assert_usage_only_last(chunks) == Usage(
        input_tokens=125, output_tokens=15, cached_input_tokens=100
    )


async def test_anthropic_error_event_after_text(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("anthropic_stream_error.sse")))
    chunks, error = await stream("anthropic", ANTHROPIC, upstream)
    assert text_of(chunks) == "Partial"
    assert error is not None and error.error_class == "server_error" and "overloaded_error" in str(error)


async def test_anthropic_overloaded_529(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(529, content=provider_fixture("anthropic_error_529.json")))
    with pytest.raises(ProviderError) as info:
        await complete("anthropic", ANTHROPIC, upstream)
    assert (info.value.error_class, info.value.status) == ("server_error", 529)
    assert "Overloaded" in str(info.value)


# -- Gemini ---------------------------------------------------------------------------------------------

GEMINI = ProviderEndpoint("gemini", "https://generativelanguage.googleapis.com", "AIza-gemini-key")


async def test_gemini_request_shape_and_mapping(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("gemini_generate_content.json")))
    response = await complete(
        "gemini",
        GEMINI,
        upstream,
        ChatRequest(
            "models/gemini-2.5-flash",
            REQUEST.messages,
            max_tokens=256,
            temperature=0.2,
            top_p=0.9,
            stop=["END"],
        ),
    )

    assert str(upstream.last.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert upstream.last.headers["x-goog-api-key"] == "AIza-gemini-key"
    assert "key=" not in str(upstream.last.url)
    assert upstream.body == {
        "contents": [
            {"role": "user", "parts": [{"text": PROMPT}]},
            {"role": "model", "parts": [{"text": "Which part?"}]},
            {"role": "user", "parts": [{"text": "tool output"}]},
            {"role": "user", "parts": [{"text": "All of them."}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse.\n\nAnswer in English."}]},
        "generationConfig": {
            "maxOutputTokens": 256,
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
    }
    assert (
        response.text == "A link records a relationship between hubs."
    )  # the thought summary is not answer text
    assert response.finish_reason == "stop"
    assert response.model == "gemini-2.5-flash"
    assert response.provider_request_id == "mAitaLmkHPPlz7IPvtfUqQ4"
    # output = candidates + thoughts; promptTokenCount already includes the cached part
    assert response.usage == Usage(
        input_tokens=1200, output_tokens=110, cached_input_tokens=1000, reasoning_tokens=100
    )


async def test_gemini_stream_with_crlf_framing(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("gemini_stream.sse")))
    chunks, error = await stream(
        "gemini", GEMINI, upstream, ChatRequest("gemini-2.0-flash", REQUEST.messages)
    )
    assert error is None
    assert str(upstream.last.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    )
    assert text_of(chunks) == "Data vault modelling."
    assert chunks[-1].finish_reason == "length"
    assert assert_usage_only_last(chunks) == Usage(input_tokens=8, output_tokens=4)


async def test_gemini_stream_without_finish_reason_is_broken(
    provider_fixture: Callable[[str], bytes],
) -> None:
    body = b"\r\n\r\n".join(provider_fixture("gemini_stream.sse").split(b"\r\n\r\n")[:2]) + b"\r\n\r\n"
    chunks, error = await stream("gemini", GEMINI, Upstream(reply(200, headers=SSE, content=body)))
    assert text_of(chunks) == "Data vault"
    assert error is not None and error.error_class == "stream_broken"


async def test_gemini_429_retry_info_from_body(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(429, content=provider_fixture("gemini_error_429.json")))
    with pytest.raises(ProviderError) as info:
        await complete("gemini", GEMINI, upstream)
    assert (info.value.error_class, info.value.retry_after) == ("rate_limited", 37.0)
    assert "exceeded your current quota" in str(info.value)


async def test_gemini_invalid_key_is_auth_despite_400(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(400, content=provider_fixture("gemini_error_api_key.json")))
    with pytest.raises(ProviderError) as info:
        await complete("gemini", GEMINI, upstream)
    assert (info.value.error_class, info.value.status) == ("auth", 400)


async def test_gemini_blocked_prompt_is_content_filter() -> None:
    body = {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": "gemini-2.0-flash",
    }
    response = await complete("gemini", GEMINI, Upstream(reply(200, json=body)))
    assert (response.text, response.finish_reason, response.usage) == ("", "content_filter", Usage(9, 0))


# -- Cohere -----------------------------------------------------------------------------------------------

COHERE = ProviderEndpoint("cohere", "https://api.cohere.com", "co-key")


async def test_cohere_request_shape_and_mapping(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, content=provider_fixture("cohere_chat.json")))
    response = await complete("cohere", COHERE, upstream)

    assert str(upstream.last.url) == "https://api.cohere.com/v2/chat"
    assert upstream.last.headers["authorization"] == "Bearer co-key"
    assert upstream.body == {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "system", "content": "Answer in English."},
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": "Which part?"},
            {"role": "user", "content": "tool output"},
            {"role": "user", "content": "All of them."},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
        "p": 0.9,
        "stop_sequences": ["END"],
    }
    assert response.text == "Chargeback splits the bill by tenant."
    assert response.finish_reason == "stop"
    assert response.provider_request_id == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    # billed units exclude the cached tokens, which are added back (template tokens are not billed)
    assert response.usage == Usage(input_tokens=11 + 448, output_tokens=9, cached_input_tokens=448)


async def test_cohere_stream(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(200, headers=SSE, content=provider_fixture("cohere_chat_stream.sse")))
    chunks, error = await stream("cohere", COHERE, upstream)
    assert error is None
    assert upstream.body["stream"] is True
    assert text_of(chunks) == "Coca-Cola"
    assert chunks[-1].finish_reason == "length"
    assert assert_usage_only_last(chunks) == Usage(input_tokens=21, output_tokens=105)


async def test_cohere_usage_falls_back_to_tokens() -> None:
    body = {
        "id": "x",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
        "usage": {"tokens": {"input_tokens": 30, "output_tokens": 2}},
    }
    response = await complete("cohere", COHERE, Upstream(reply(200, json=body)))
    assert response.usage == Usage(input_tokens=30, output_tokens=2)


async def test_cohere_error_message(provider_fixture: Callable[[str], bytes]) -> None:
    upstream = Upstream(reply(400, content=provider_fixture("cohere_error.json")))
    with pytest.raises(ProviderError) as info:
        await complete("cohere", COHERE, upstream)
    assert info.value.error_class == "bad_request" and not info.value.retryable
    assert "max_tokens must be positive" in str(info.value)


# -- secrets ----------------------------------------------------------------------------------------------

ECHOING_ERRORS = {
    "openai": lambda key: {
        "error": {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}
    },
    "openai_compatible": lambda key: {"error": f"bad token {key}"},
    "azure_openai": lambda key: {"error": {"code": "401", "message": f"Access denied for key {key}"}},
    "anthropic": lambda key: {
        "type": "error",
        "error": {"type": "authentication_error", "message": f"x-api-key {key}"},
    },
    "gemini": lambda key: {
        "error": {"code": 401, "message": f"API key {key} not valid", "status": "UNAUTHENTICATED"}
    },
    "cohere": lambda key: {"message": f"invalid api token {key}"},
}


@pytest.mark.parametrize("api_style", sorted(ECHOING_ERRORS))
async def test_api_key_never_in_error_messages(api_style: str, secret_key: str) -> None:
    endpoint = ProviderEndpoint(api_style, "https://provider.example/v1", secret_key)
    echo = Upstream(reply(401, json=ECHOING_ERRORS[api_style](secret_key)))
    with pytest.raises(ProviderError) as info:
        await complete(api_style, endpoint, echo)
    _, streamed = await stream(api_style, endpoint, echo)

    def refuse(request: Sent) -> Reply:
        raise connect_error("provider.example", f"cannot reach {dict(request.headers)}")

    with pytest.raises(ProviderError) as transport:
        await complete(api_style, endpoint, Upstream(refuse))
    for err in (info.value, streamed, transport.value):
        assert err is not None
        assert secret_key not in str(err) and secret_key not in repr(err)
    assert info.value.error_class == streamed.error_class == "auth"  # type: ignore[union-attr]
    assert repr(endpoint).count(secret_key) == 0
    # the key did go to the provider, in that provider's auth header
    assert any(secret_key in value for value in echo.last.headers.values())
