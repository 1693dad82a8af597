"""Canonical types, endpoint config, the adapter registry, the HTTP client, error classification
and SSE parsing."""

from __future__ import annotations

import asyncio
import gzip
import pickle
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import aiohttp
import orjson
import pytest
from aiohttp.http_exceptions import ContentEncodingError
from multidict import CIMultiDict

from gateway.providers.base import (
    API_STYLES,
    ProviderAdapter,
    ProviderEndpoint,
    UnknownApiStyleError,
    get_adapter,
)
from gateway.providers.errors import (
    MAX_PROVIDER_MESSAGE,
    error_class_for_status,
    error_from_response,
    parse_retry_after,
    provider_message,
    sanitise,
    transport_error,
)
from gateway.providers.http import (
    USER_AGENT,
    UpstreamClient,
    UpstreamResponse,
    UpstreamStream,
    create_http_client,
    timeout_for,
)
from gateway.providers.sse import SseEvent, iter_sse
from gateway.providers.types import ERROR_CLASSES, ChatMessage, ChatRequest, ProviderError, Usage

# -- types ------------------------------------------------------------------------------------


def test_usage_total_is_input_plus_output() -> None:
    assert (
        Usage(input_tokens=10, output_tokens=5, cached_input_tokens=8, reasoning_tokens=3).total_tokens == 15
    )


@pytest.mark.parametrize("error_class", sorted(ERROR_CLASSES))
def test_retryable_classes(error_class: str) -> None:
    retryable = {"rate_limited", "server_error", "timeout", "connection", "stream_broken"}
    assert ProviderError(error_class, "x").retryable is (error_class in retryable)


def test_provider_error_rejects_unknown_class() -> None:
    with pytest.raises(ValueError, match="unknown provider error class"):
        ProviderError("kaboom", "x")


def test_provider_error_keeps_fields_through_pickle() -> None:
    err = ProviderError("rate_limited", "slow down", status=429, retry_after=2.5)
    back = pickle.loads(pickle.dumps(err))
    assert (back.error_class, str(back), back.status, back.retry_after) == (
        "rate_limited",
        "slow down",
        429,
        2.5,
    )


# -- endpoint and registry ----------------------------------------------------------------------


def test_endpoint_repr_never_shows_the_key(secret_key: str) -> None:
    endpoint = ProviderEndpoint("openai", "https://api.openai.com/v1/", secret_key)
    assert secret_key not in repr(endpoint)
    assert secret_key not in str(endpoint)
    assert endpoint.base_url == "https://api.openai.com/v1"  # trailing slash dropped


@pytest.mark.parametrize(
    ("base_url", "timeout_s"), [("api.openai.com/v1", 60.0), ("https://x", 0.0), ("https://x", -1.0)]
)
def test_endpoint_validates(base_url: str, timeout_s: float) -> None:
    with pytest.raises(ValueError):
        ProviderEndpoint("openai", base_url, "k", timeout_s=timeout_s)


@pytest.mark.parametrize("api_style", API_STYLES)
def test_registry_returns_one_adapter_per_style(api_style: str) -> None:
    adapter = get_adapter(api_style)
    assert adapter is get_adapter(api_style)
    assert adapter.api_style == api_style
    assert isinstance(adapter, ProviderAdapter)


def test_registry_unknown_style_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError) as info:
        get_adapter("bedrock")
    assert isinstance(info.value, UnknownApiStyleError)
    assert "no provider adapter for api_style 'bedrock'" in str(info.value)
    assert "openai" in str(info.value)


async def test_http_client_has_no_default_timeout_and_a_big_pool() -> None:
    client = create_http_client()
    try:
        assert isinstance(client, UpstreamClient)
        session = client.session  # opened on first use, in the running loop
        assert session is client.session
        assert session.timeout.total is None  # no default deadline: each call brings its endpoint's
        assert (session.timeout.sock_read, session.timeout.sock_connect) == (None, None)
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert connector.limit == 1000
        assert connector._keepalive_timeout == 30.0  # type: ignore[attr-defined]
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
        assert session.headers["User-Agent"] == USER_AGENT
        assert not session.trust_env  # no per-request netrc / proxy look-ups on a worker thread
    finally:
        await client.aclose()
    assert session.closed
    timeout = timeout_for(ProviderEndpoint("openai", "https://x", "k", timeout_s=7))
    # per phase (pool wait, connect, every read), never a total: a long stream is not cut off
    assert timeout == aiohttp.ClientTimeout(total=None, connect=7, sock_connect=7, sock_read=7)
    assert timeout is timeout_for(ProviderEndpoint("anthropic", "https://y", "k", timeout_s=7))  # cached


async def test_http_client_refuses_calls_once_closed() -> None:
    client = create_http_client(trust_env=False)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.post("http://127.0.0.1:9/", headers={}, body=b"", timeout_s=1)


# -- error classification -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, "rate_limited"),
        (500, "server_error"),
        (502, "server_error"),
        (503, "server_error"),
        (529, "server_error"),
        (401, "auth"),
        (403, "auth"),
        (404, "not_found"),
        (400, "bad_request"),
        (413, "bad_request"),
        (422, "bad_request"),
        (408, "timeout"),
        (302, "bad_response"),
    ],
)
def test_status_classes(status: int, expected: str) -> None:
    assert error_class_for_status(status) == expected


def test_retry_after_forms() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(CIMultiDict({"retry-after": "7"})) == 7.0
    assert parse_retry_after(CIMultiDict({"Retry-After": "1.5"})) == 1.5  # header names are case-blind
    assert parse_retry_after(CIMultiDict({"retry-after-ms": "250", "retry-after": "1"})) == 0.25
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(CIMultiDict({"retry-after": date}), now=now) == 30.0
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(CIMultiDict({"retry-after": past}), now=now) == 0.0
    assert parse_retry_after(CIMultiDict({"retry-after": "soon"})) is None
    assert parse_retry_after(CIMultiDict()) is None
    assert parse_retry_after(UpstreamResponse(429, {"RETRY-AFTER": "3"}).headers) == 3.0


def test_sanitise_scrubs_the_key_and_truncates(secret_key: str) -> None:
    text = f"bad key {secret_key}\n\n" + "x" * 1000
    clean = sanitise(text, secret_key)
    assert secret_key not in clean
    assert "\n" not in clean
    assert len(clean) == MAX_PROVIDER_MESSAGE


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": {"message": "openai style", "type": "x"}}', "openai style"),
        (
            b'{"type": "error", "error": {"type": "api_error", "message": "anthropic style"}}',
            "anthropic style",
        ),
        (b'{"error": {"code": 500, "message": "gemini style", "status": "INTERNAL"}}', "gemini style"),
        (b'{"message": "cohere style"}', "cohere style"),
        (b'[{"error": {"code": 503, "message": "gemini array"}}]', "gemini array"),
        (b"upstream connect error", "upstream connect error"),
        (b"<html><body>502 Bad Gateway</body></html>", None),
        (b"", None),
    ],
)
def test_provider_message_shapes(body: bytes, expected: str | None) -> None:
    assert provider_message(body) == expected


def test_error_from_response_scrubs_key_echoed_by_provider(secret_key: str) -> None:
    body = b'{"error": {"message": "Incorrect API key provided: ' + secret_key.encode() + b'"}}'
    response = UpstreamResponse(401, {"content-type": "application/json"}, body)
    err = error_from_response("openai", response, secret_key)
    assert err.error_class == "auth" and err.status == 401
    assert secret_key not in str(err) and secret_key not in repr(err)
    assert "Incorrect API key provided" in str(err)


def test_transport_errors() -> None:
    assert transport_error("openai", aiohttp.SocketTimeoutError("t"), None).error_class == "timeout"
    assert transport_error("openai", aiohttp.ConnectionTimeoutError("t"), None).error_class == "timeout"
    assert transport_error("openai", TimeoutError(), None).error_class == "timeout"
    assert transport_error("openai", aiohttp.ClientOSError(111, "c"), None).error_class == "connection"
    assert transport_error("openai", aiohttp.ServerDisconnectedError(), None).error_class == "connection"
    assert transport_error("openai", aiohttp.ClientPayloadError("p"), None).error_class == "connection"
    broken = transport_error("openai", aiohttp.ClientPayloadError("r"), None, mid_stream=True)
    assert broken.error_class == "stream_broken"
    stalled = transport_error("openai", aiohttp.SocketTimeoutError("t"), None, mid_stream=True)
    assert stalled.error_class == "timeout" and "mid-stream" in str(stalled)


def test_a_corrupt_content_encoding_is_unreadable_not_a_lost_connection() -> None:
    exc = aiohttp.ClientPayloadError("400, message: Can not decode content-encoding: gzip")
    exc.__cause__ = ContentEncodingError("Can not decode content-encoding: gzip")
    err = transport_error("openai", exc, None)
    assert (err.error_class, err.retryable) == ("bad_response", False)
    assert "response unreadable" in str(err)


def test_transport_error_messages_are_scrubbed(secret_key: str) -> None:
    err = transport_error("openai", aiohttp.ClientOSError(104, f"reset, key {secret_key}"), secret_key)
    assert err.error_class == "connection"
    assert secret_key not in str(err) and secret_key not in repr(err)


# -- streamed lines ------------------------------------------------------------------------------


async def _pieces(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _lines_of(*pieces: bytes) -> list[str]:
    response = UpstreamStream(200, {}, _pieces(*pieces))
    return [line async for line in response.aiter_lines()]


@pytest.mark.parametrize(
    "pieces",
    [
        (b"a\nb\r\nc\rd\n\n",),
        (b"a\nb\r", b"\nc\rd\n", b"\n"),  # a CRLF split across reads is one terminator
        (b"a", b"\n", b"b\r", b"\n", b"c\r", b"d\n\n"),
        tuple(bytes([byte]) for byte in b"a\nb\r\nc\rd\n\n"),
    ],
)
async def test_lines_end_at_lf_crlf_and_cr_wherever_the_reads_split(pieces: tuple[bytes, ...]) -> None:
    assert await _lines_of(*pieces) == ["a", "b", "c", "d", ""]


async def test_lines_blank_lines_and_an_unterminated_last_line() -> None:
    assert await _lines_of(b"data: 1\r\n\r\ndata: 2\r\n\r\n", b'data: {"partial": tr') == [
        "data: 1",
        "",
        "data: 2",
        "",
        'data: {"partial": tr',
    ]
    assert await _lines_of(b"x\r\r") == ["x", ""]
    assert await _lines_of(b"x\r") == ["x"]
    assert await _lines_of() == []
    assert await _lines_of(b"", b"") == []


async def test_lines_decode_utf8_split_across_reads() -> None:
    text = "data: caf\u00e9 \u2014 \U0001f600 \u2028 inside\n".encode()
    assert await _lines_of(*(text[i : i + 1] for i in range(len(text)))) == [
        "data: caf\u00e9 \u2014 \U0001f600 \u2028 inside"  # only CR and LF end an event-stream line
    ]
    assert await _lines_of(b"bad \xff byte\n") == ["bad \ufffd byte"]


async def test_streamed_body_read_whole() -> None:
    response = UpstreamStream(503, {"Content-Type": "application/json"}, _pieces(b'{"error":', b' "x"}'))
    assert not response.is_success
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(RuntimeError):
        _ = response.content
    assert await response.aread() == b'{"error": "x"}'
    assert response.content == b'{"error": "x"}'
    assert await response.aread() == b'{"error": "x"}'


# -- the HTTP client on a real socket --------------------------------------------------------------

Respond = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CHAT = ChatRequest("gpt-4o-mini", [ChatMessage("user", "hi")])


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request (head and body); b"" once the client has closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


class RawServer:
    """A TCP server whose answers are written byte by byte by the test."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.respond(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()

    def endpoint(self, timeout_s: float = 5.0) -> ProviderEndpoint:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return ProviderEndpoint("openai", f"http://127.0.0.1:{port}/v1", "sk-raw", timeout_s=timeout_s)


def sse_event(text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({"choices": [choice]}) + b"\r\n\r\n"


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


async def test_client_sends_our_agent_keeps_no_cookies_follows_no_redirects_and_reuses_connections(
    client: UpstreamClient,
) -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while request := await read_request(reader):
            server.requests.append(request)
            writer.write(
                b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:9/elsewhere\r\n"
                b"set-cookie: tracker=1; Path=/\r\ncontent-length: 0\r\n\r\n"
            )
            await writer.drain()

    async with RawServer(respond) as server:
        endpoint = server.endpoint()
        for _ in range(2):
            with pytest.raises(ProviderError) as info:
                await get_adapter("openai").complete(client, endpoint, CHAT)
            assert (info.value.error_class, info.value.status) == ("bad_response", 307)
    assert len(server.requests) == 2 and server.connections == 1  # kept alive, not followed
    for request in server.requests:
        head = request.lower()
        assert b"\r\nuser-agent: onevault-gateway\r\n" in head
        assert b"\r\nauthorization: bearer sk-raw\r\n" in head
        assert b"\r\ncookie:" not in head


async def test_refused_connection_is_a_connection_error(client: UpstreamClient) -> None:
    async with RawServer(lambda reader, writer: asyncio.sleep(0)) as server:
        endpoint = server.endpoint()
    for streaming in (False, True):  # the server is gone: nothing listens on its port
        with pytest.raises(ProviderError) as info:
            if streaming:
                [_ async for _ in get_adapter("openai").stream(client, endpoint, CHAT)]
            else:
                await get_adapter("openai").complete(client, endpoint, CHAT)
        assert (info.value.error_class, info.value.retryable) == ("connection", True)


async def test_server_hanging_up_without_an_answer_is_a_connection_error(client: UpstreamClient) -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async with RawServer(respond) as server:
        for streaming in (False, True):
            with pytest.raises(ProviderError) as info:
                if streaming:
                    [_ async for _ in get_adapter("openai").stream(client, server.endpoint(), CHAT)]
                else:
                    await get_adapter("openai").complete(client, server.endpoint(), CHAT)
            assert (info.value.error_class, info.value.retryable) == ("connection", True)


async def test_stream_cut_mid_body_yields_what_arrived_then_breaks(client: UpstreamClient) -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        body = sse_event("Hel") + sse_event("lo")
        writer.write(SSE_HEAD + chunked(body[:-3]))  # the second event's CRLF CRLF straddles writes
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(chunked(body[-3:]) + chunked(sse_event(" there")[:20]))
        await writer.drain()  # ... and the connection drops inside a chunk

    async with RawServer(respond) as server:
        chunks: list[str] = []
        with pytest.raises(ProviderError) as info:
            async for chunk in get_adapter("openai").stream(client, server.endpoint(), CHAT):
                chunks.append(chunk.delta)
    assert "".join(chunks) == "Hello"
    assert (info.value.error_class, info.value.retryable) == ("stream_broken", True)


async def test_a_stream_that_keeps_producing_outlives_the_read_timeout(client: UpstreamClient) -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(SSE_HEAD)
        for word in ("a", "b", "c", "d", "e", "f"):
            writer.write(chunked(sse_event(word)))
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.write(chunked(sse_event(None, "stop") + b"data: [DONE]\r\n\r\n") + b"0\r\n\r\n")
        await writer.drain()

    async with RawServer(respond) as server:
        started = time.monotonic()
        chunks = [c async for c in get_adapter("openai").stream(client, server.endpoint(timeout_s=0.3), CHAT)]
    assert time.monotonic() - started > 0.5  # longer than timeout_s in total, never that long silent
    assert "".join(c.delta for c in chunks) == "abcdef"
    assert chunks[-1].finish_reason == "stop"


async def test_a_stream_that_stalls_times_out_mid_stream(client: UpstreamClient) -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(SSE_HEAD + chunked(sse_event("Hi")))
        await writer.drain()
        await asyncio.sleep(3)

    async with RawServer(respond) as server:
        chunks: list[str] = []
        started = time.monotonic()
        with pytest.raises(ProviderError) as info:
            async for chunk in get_adapter("openai").stream(client, server.endpoint(timeout_s=0.2), CHAT):
                chunks.append(chunk.delta)
    assert time.monotonic() - started < 2
    assert chunks == ["Hi"]
    assert info.value.error_class == "timeout" and "mid-stream" in str(info.value)


async def test_gzip_answers_are_decoded_and_corrupt_ones_are_unreadable(
    client: UpstreamClient, provider_fixture: Callable[[str], bytes]
) -> None:
    bodies = [gzip.compress(provider_fixture("openai_chat_completion.json")), b"\x1f\x8b\x08not gzip at all"]

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader):
            body = bodies.pop(0)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )
            await writer.drain()

    async with RawServer(respond) as server:
        response = await get_adapter("openai").complete(client, server.endpoint(), CHAT)
        assert response.text == "The vault keeps every version of every row."
        with pytest.raises(ProviderError) as info:
            await get_adapter("openai").complete(client, server.endpoint(), CHAT)
    assert (info.value.error_class, info.value.retryable) == ("bad_response", False)
    assert "response unreadable" in str(info.value)


# -- SSE -------------------------------------------------------------------------------------------


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _events(*lines: str, bare: bool = False) -> list[SseEvent]:
    return [event async for event in iter_sse(_lines(*lines), bare_json_lines=bare)]


async def test_sse_events_names_and_multiline_data() -> None:
    events = await _events(
        ": keep-alive comment",
        "event: message_start",
        'data: {"a":',
        "data: 1}",
        "",
        "data:no-space",
        "",
        "",
        "id: 7",
        "",
    )
    assert events == [SseEvent("message_start", '{"a":\n1}'), SseEvent("message", "no-space")]


async def test_sse_drops_an_event_cut_off_at_end_of_body() -> None:
    assert await _events('data: {"done": true}', "", 'data: {"partial": tr') == [
        SseEvent("message", '{"done": true}')
    ]


async def test_sse_bare_json_lines_only_when_asked() -> None:
    assert await _events('{"type": "x"}', "") == []
    assert await _events('{"type": "x"}', '{"type": "y"}', bare=True) == [
        SseEvent("message", '{"type": "x"}'),
        SseEvent("message", '{"type": "y"}'),
    ]
