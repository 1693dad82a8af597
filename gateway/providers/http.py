"""The process-wide HTTP client every adapter shares.

One pooled ``aiohttp.ClientSession`` per process keeps TLS sessions and keep-alive connections
warm across requests. Adapters talk to aiohttp directly, through the thin ``UpstreamClient``
below, rather than through httpx: profiled, httpx's client layers (building the request, URL
parsing, cookie extraction, the auth and redirect wrappers, its Response models) cost ~0.7 ms of
CPU per call on top of the ~0.38 ms of the aiohttp exchange itself, and the gateway's whole
added-latency budget is 2 ms (see benchmarks/gateway_overhead.py). httpcore's own pool was worse
still (~2 ms per call at our request rates), which is why aiohttp carries the traffic at all.

The client has no default timeout on purpose: each call passes its endpoint's ``timeout_s``
(see ``client_timeout``), because providers differ widely in how long a healthy answer takes.
The timeout bounds each phase (waiting for a pooled connection, connecting, each socket read),
not the whole exchange, so a long stream that keeps producing is never cut off while a stalled
one is.

What the session deliberately does not do: follow redirects, keep cookies, read ``.netrc`` or
proxy settings from the environment (aiohttp's ``trust_env`` looks both up on a worker thread
for every request). ``trust_env`` here means what it meant for the httpx client this replaces:
honour ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``; otherwise certifi's CA bundle is trusted.

Answers are bounded (``ONEVAULT_UPSTREAM_MAX_BODY_BYTES`` for a whole or streamed body,
``ONEVAULT_UPSTREAM_MAX_EVENT_BYTES`` per streamed line/event; ``BodyTooLarge`` past them), so a
hostile own-key endpoint that sends an endless body cannot exhaust the worker's memory. Calls to a
customer-supplied base URL (``ProviderEndpoint.customer_url``) go through a second, guarded client
(``for_endpoint``): its resolver and a check of IP literals refuse addresses the egress policy does
not allow (gateway/egress/), at connect time; platform routes never pay for that check.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from functools import lru_cache
from types import TracebackType
from typing import TYPE_CHECKING, Final

import aiohttp
import certifi
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.egress.connect import GuardedResolver
from gateway.egress.policy import EgressPolicy, EgressRefused

if TYPE_CHECKING:
    from gateway.providers.base import ProviderEndpoint

USER_AGENT: Final = "onevault-gateway"
MAX_CONNECTIONS: Final = 1000
KEEPALIVE_S: Final = 30.0
DNS_CACHE_TTL_S: Final = 300
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024 * 1024  # images arrive base64 in JSON
DEFAULT_MAX_EVENT_BYTES: Final = 16 * 1024 * 1024
HOP_HEADER: Final = "x-onevault-hop"  # on customer-URL calls: how a gateway recognises itself

# What reading an answer can raise: aiohttp's own errors, and timeouts (aiohttp's
# ServerTimeoutError family subclasses TimeoutError, which asyncio.TimeoutError is since 3.11).
TRANSPORT_ERRORS: Final = (aiohttp.ClientError, TimeoutError)


class BodyTooLarge(aiohttp.ClientPayloadError):
    """The upstream answer, or one line or event of a stream, is larger than the configured bound."""


class EgressBlocked(aiohttp.ClientConnectionError):
    """A customer-supplied URL names a host the egress policy refuses (checked before connecting)."""


async def _bounded(chunks: AsyncIterable[bytes], limit: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge(f"the answer is larger than {limit} bytes")
        yield chunk


_NO_DEFAULT_TIMEOUT: Final = aiohttp.ClientTimeout(total=None)
_EMPTY_HEADERS: Final[CIMultiDictProxy[str]] = CIMultiDictProxy(CIMultiDict())


def as_headers(headers: Mapping[str, str] | None) -> CIMultiDictProxy[str]:
    """Headers as the case-insensitive, read-only mapping aiohttp answers with."""
    if isinstance(headers, CIMultiDictProxy):
        return headers
    if not headers:
        return _EMPTY_HEADERS
    return CIMultiDictProxy(CIMultiDict(headers))


class UpstreamResponse:
    """A whole answer: status, headers (case-insensitive) and the body as read."""

    __slots__ = ("content", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str] | None = None, content: bytes = b"") -> None:
        self.status = status
        self.headers = as_headers(headers)
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def __repr__(self) -> str:
        return f"<UpstreamResponse [{self.status}] {len(self.content)} bytes>"


class UpstreamStream:
    """An answer whose body is still arriving: read it whole (``aread``) or line by line."""

    __slots__ = ("_body", "_chunks", "headers", "max_body_bytes", "max_event_bytes", "status")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str] | None,
        chunks: AsyncIterable[bytes],
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.status = status
        self.headers = as_headers(headers)
        self._chunks = chunks
        self.max_body_bytes = max_body_bytes  # in all, read whole or line by line
        self.max_event_bytes = max_event_bytes  # per line here, per event in the SSE parser
        self._body: bytes | None = None

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def content(self) -> bytes:
        """The body, once ``aread`` has read it."""
        if self._body is None:
            raise RuntimeError("the streamed body has not been read; call aread() first")
        return self._body

    async def aread(self) -> bytes:
        if self._body is None:
            self._body = b"".join([chunk async for chunk in _bounded(self._chunks, self.max_body_bytes)])
        return self._body

    async def aiter_lines(self) -> AsyncIterator[str]:
        """The body as UTF-8 text lines, without their terminators, as they arrive.

        Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (the event-stream rule), including a
        ``\\r\\n`` split across two reads; a last line without a terminator is yielded too.
        Bytes that are not UTF-8 become U+FFFD rather than failing the stream. A line longer
        than ``max_event_bytes`` characters, or a body past ``max_body_bytes``, raises
        ``BodyTooLarge``.
        """
        decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        limit, left = self.max_event_bytes, self.max_body_bytes
        pending = ""
        async for chunk in self._chunks:
            left -= len(chunk)
            if left < 0:
                raise BodyTooLarge(f"the answer is larger than {self.max_body_bytes} bytes")
            text = decode(chunk)
            if pending:
                text = pending + text
            if "\r" in text:
                held = text[-1] == "\r"  # may be the first half of a \r\n still on its way
                if held:
                    text = text[:-1]
                lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                pending = (lines.pop() + "\r") if held else lines.pop()
            else:
                lines = text.split("\n")
                pending = lines.pop()
            if len(pending) > limit or (len(text) > limit and max(map(len, lines), default=0) > limit):
                raise BodyTooLarge(f"a streamed line is larger than {limit} characters")
            for line in lines:
                yield line
        text = pending + decode(b"", True)
        if text:
            lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            if not lines[-1]:
                lines.pop()
            for line in lines:
                yield line

    def __repr__(self) -> str:
        return f"<UpstreamStream [{self.status}]>"


class _StreamingCall:
    """``async with client.stream(...) as response``: the response is released on exit.

    A body read to the end returns its connection to the pool; one left unread (an error was
    raised, or the caller stopped early) closes it.
    """

    __slots__ = ("_client", "_request", "_request_args")

    def __init__(
        self, client: UpstreamClient, url: str, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> None:
        self._client = client
        self._request_args = (url, headers, body, timeout_s)
        self._request: AbstractAsyncContextManager[aiohttp.ClientResponse] | None = None

    async def __aenter__(self) -> UpstreamStream:
        url, headers, body, timeout_s = self._request_args
        client = self._client
        self._request = client.session.post(
            client.target(url),
            data=body,
            headers=headers,
            timeout=client_timeout(timeout_s),
            allow_redirects=False,
        )
        response = await self._request.__aenter__()
        return UpstreamStream(
            response.status,
            response.headers,
            response.content.iter_any(),
            max_body_bytes=client.max_body_bytes,
            max_event_bytes=client.max_event_bytes,
        )

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._request is not None:
            await self._request.__aexit__(exc_type, exc, tb)


class UpstreamClient:
    """The pooled HTTP/1.1 client for provider calls (close it with ``await client.aclose()``).

    The aiohttp session is opened on first use, inside the running event loop, and stays bound
    to that loop. ``egress`` set: this is the guarded client for customer-supplied URLs (see the
    module docstring); ``customer_egress`` is the policy the platform client gives its guarded
    sibling (``for_endpoint``), strict — public addresses only — unless the operator allows more.
    """

    def __init__(
        self,
        *,
        trust_env: bool = True,
        limit: int = MAX_CONNECTIONS,
        keepalive_timeout: float = KEEPALIVE_S,
        ttl_dns_cache: int | None = DNS_CACHE_TTL_S,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        egress: EgressPolicy | None = None,
        customer_egress: EgressPolicy | None = None,
    ) -> None:
        self.trust_env = trust_env
        self.limit = limit
        self.keepalive_timeout = keepalive_timeout
        self.ttl_dns_cache = ttl_dns_cache
        self.max_body_bytes = max_body_bytes
        self.max_event_bytes = max_event_bytes
        self.egress = egress
        self.customer_egress = customer_egress or EgressPolicy()
        self._customer: UpstreamClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def for_endpoint(self, endpoint: ProviderEndpoint) -> UpstreamClient:
        """The client for calls to ``endpoint``: the guarded one when its base URL is the customer's."""
        if not endpoint.customer_url or self.egress is not None:
            return self
        customer = self._customer
        if customer is None:
            customer = self._customer = UpstreamClient(
                trust_env=self.trust_env,
                limit=self.limit,
                keepalive_timeout=self.keepalive_timeout,
                ttl_dns_cache=self.ttl_dns_cache,
                max_body_bytes=self.max_body_bytes,
                max_event_bytes=self.max_event_bytes,
                egress=self.customer_egress,
            )
        return customer

    def target(self, url: str) -> str | URL:
        """``url`` as the session gets it; on the guarded client, refused first if its host is an
        address (or a name) the egress policy rules out without resolving it."""
        if self.egress is None:
            return url
        parsed = URL(url)  # the parser aiohttp itself uses: no differential between check and call
        why = self.egress.refusal(parsed.host or "")
        if why is not None:
            raise EgressBlocked(f"egress refused: {why}")
        return parsed

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled session (opened here on first use; needs the running event loop)."""
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop():
            session = self._open()
        return session

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the upstream HTTP client has been closed")
        loop = asyncio.get_running_loop()
        if self._session is not None:
            raise RuntimeError("the upstream HTTP client is bound to another event loop")
        connector = aiohttp.TCPConnector(
            limit=self.limit,
            keepalive_timeout=self.keepalive_timeout,
            ttl_dns_cache=self.ttl_dns_cache,
            ssl=ssl_context(trust_env=self.trust_env),
            resolver=GuardedResolver(self.egress) if self.egress is not None else None,
        )
        headers = {"user-agent": USER_AGENT}
        if self.egress is not None and self.egress.hop_id:
            headers[HOP_HEADER] = self.egress.hop_id
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=headers,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=_NO_DEFAULT_TIMEOUT,
            auto_decompress=True,
            trust_env=False,  # see the module docstring
        )
        self._loop = loop
        return self._session

    async def post(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> UpstreamResponse:
        """POST ``body`` and read the whole answer (at most ``max_body_bytes`` of it)."""
        async with self.session.post(
            self.target(url),
            data=body,
            headers=headers,
            timeout=client_timeout(timeout_s),
            allow_redirects=False,
        ) as response:
            content = await self._read(response)
            return UpstreamResponse(response.status, response.headers, content)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.max_body_bytes
        length = response.content_length
        if length is not None and length > limit:
            raise BodyTooLarge(f"the answer is larger than {limit} bytes ({length} announced)")
        if length is not None and "content-encoding" not in response.headers:
            return await response.read()  # exactly content-length bytes: bounded already
        body = bytearray()
        async for chunk in response.content.iter_any():  # chunked, or decompressed: count it
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge(f"the answer is larger than {limit} bytes")
        return bytes(body)

    def stream(
        self, url: str, *, headers: Mapping[str, str], body: bytes, timeout_s: float
    ) -> _StreamingCall:
        """POST ``body``; ``async with`` the result for the answer as it arrives."""
        return _StreamingCall(self, url, headers, body, timeout_s)

    async def aclose(self) -> None:
        self._closed = True
        customer, self._customer = self._customer, None
        if customer is not None:
            await customer.aclose()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def create_http_client(
    *,
    trust_env: bool = True,
    limit: int = MAX_CONNECTIONS,
    customer_egress: EgressPolicy | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> UpstreamClient:
    """The pooled client for provider calls (close it with ``await client.aclose()``)."""
    return UpstreamClient(
        trust_env=trust_env,
        limit=limit,
        customer_egress=customer_egress,
        max_body_bytes=max_body_bytes,
        max_event_bytes=max_event_bytes,
    )


def egress_refusal(exc: BaseException) -> str | None:
    """Why the egress policy refused the connection behind ``exc`` (None: it did not)."""
    seen: BaseException | None = exc
    for _ in range(4):  # aiohttp wraps the resolver's error once or twice
        if seen is None:
            return None
        if isinstance(seen, (EgressBlocked, EgressRefused)):
            return str(seen)
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return None


def ssl_context(*, trust_env: bool) -> ssl.SSLContext:
    """certifi's CA bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when the environment is trusted."""
    if trust_env and os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if trust_env and os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    return ssl.create_default_context(cafile=certifi.where())


def timeout_for(endpoint: ProviderEndpoint) -> aiohttp.ClientTimeout:
    """The per-phase timeouts for calls to ``endpoint``."""
    return client_timeout(endpoint.timeout_s)


@lru_cache(maxsize=64)
def client_timeout(seconds: float) -> aiohttp.ClientTimeout:
    """``seconds`` for each phase: getting a pooled connection (``connect``), connecting, and
    every socket read; no total deadline."""
    return aiohttp.ClientTimeout(total=None, connect=seconds, sock_connect=seconds, sock_read=seconds)
