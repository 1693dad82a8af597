"""The request/response cycle every JSON-over-HTTP adapter shares.

A concrete adapter only says how to *build* the provider call, how to *parse* a complete answer,
and how to *decode* stream events; this base class owns the HTTP exchange and the error rules:

- non-2xx answers become classified ``ProviderError``s (``error_for``, overridable);
- timeouts and transport failures (aiohttp's errors) become ``timeout`` / ``connection`` before the answer
  starts, and ``timeout`` / ``stream_broken`` once it has;
- a 2xx body that is not JSON or lacks the promised fields is ``bad_response``;
- a stream is yielded as it arrives and checked at the end: if the terminal event never came
  (the connection dropped, or the provider just stopped) ``stream_broken`` is raised *after*
  every chunk received has been yielded, so the caller can still cost what was delivered.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from gateway.providers.base import ProviderEndpoint
from gateway.providers.errors import bad_response, error_from_response, scrub, transport_error
from gateway.providers.http import TRANSPORT_ERRORS, UpstreamClient, UpstreamResponse
from gateway.providers.sse import SseEvent, iter_sse
from gateway.providers.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ImageRequest,
    ImageResponse,
    ProviderError,
    StreamChunk,
    ToolCallDelta,
)

# What a parser raises when the provider's JSON is not the shape its documentation promises.
SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError)


@dataclass(slots=True, frozen=True)
class HttpCall:
    url: str
    headers: dict[str, str]
    body: dict[str, Any]


class StreamDecoder(ABC):
    """Per-stream state: turns provider events into canonical chunks."""

    __slots__ = ()

    @abstractmethod
    def feed(self, event: SseEvent) -> list[StreamChunk]:
        """Chunks for one event (usually zero or one); may raise ``ProviderError``."""

    @property
    @abstractmethod
    def complete(self) -> bool:
        """Whether everything essential has arrived (the terminal event, or its equivalent)."""

    def close(self) -> list[StreamChunk]:
        """Trailing chunks once the body has ended; the base raises if not ``complete``."""
        return []


def whole_as_chunk(whole: ChatResponse) -> StreamChunk:
    """A complete answer as the one chunk of a stream (tool calls, reasoning and all)."""
    calls = [ToolCallDelta(i, c.id, c.name, c.arguments) for i, c in enumerate(whole.tool_calls)]
    return StreamChunk(
        whole.text,
        whole.finish_reason,
        whole.usage,
        tool_calls=calls or None,
        reasoning=whole.reasoning or "",
        refusal=whole.refusal or "",
        logprobs=whole.logprobs,
    )


def load_json(api_style: str, content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        raise bad_response(api_style, f"body is not JSON ({len(content)} bytes)") from None


def describe_shape_error(exc: BaseException) -> str:
    """Name what was missing without echoing provider content."""
    if isinstance(exc, KeyError) and exc.args:
        return f"missing field {exc.args[0]!r}"
    return f"malformed ({type(exc).__name__})"


class HttpAdapter(ABC):
    api_style: ClassVar[str]
    bare_json_lines: ClassVar[bool] = False  # accept NDJSON where SSE is expected

    # -- what each wire format defines -------------------------------------------------------
    @abstractmethod
    def build(self, endpoint: ProviderEndpoint, request: ChatRequest, *, stream: bool) -> HttpCall:
        """The provider call for a canonical request."""

    @abstractmethod
    def parse(self, data: Any, request: ChatRequest) -> ChatResponse:
        """A complete (non-streamed) answer; may raise any of ``SHAPE_ERRORS``."""

    @abstractmethod
    def decoder(self, request: ChatRequest) -> StreamDecoder:
        """Fresh decoder state for one stream."""

    def error_for(self, response: UpstreamResponse, endpoint: ProviderEndpoint) -> ProviderError:
        """The error for a non-2xx response whose body has been read."""
        return error_from_response(self.api_style, response, endpoint.api_key)

    # -- embeddings (wire formats that have an embeddings API override both) -------------------
    token_inputs: ClassVar[bool] = False  # the embeddings API takes arrays of token ids too

    def build_embedding(self, endpoint: ProviderEndpoint, request: EmbeddingRequest) -> HttpCall:
        """The provider call that embeds ``request.inputs``."""
        raise ProviderError("bad_request", f"{self.api_style} has no embeddings API")

    def parse_embedding(self, data: Any, request: EmbeddingRequest) -> EmbeddingResponse:
        """Vectors in input order; may raise any of ``SHAPE_ERRORS``."""
        raise ProviderError("bad_request", f"{self.api_style} has no embeddings API")

    # -- image generation (wire formats that have an image API override these) ----------------
    def image_gaps(self, request: ImageRequest) -> list[str] | None:
        """The fields of ``request`` this wire cannot carry (empty: it can), or None when the
        wire has no image generation API at all — so the pipeline refuses before any call."""
        return None

    def build_image(self, endpoint: ProviderEndpoint, request: ImageRequest) -> HttpCall:
        raise ProviderError("bad_request", f"{self.api_style} has no image generation API", param="model")

    def parse_image(self, data: Any, request: ImageRequest) -> ImageResponse:
        """The generated images; may raise any of ``SHAPE_ERRORS``."""
        raise ProviderError("bad_request", f"{self.api_style} has no image generation API", param="model")

    async def generate_image(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, request: ImageRequest
    ) -> ImageResponse:
        data, status = await self._post(client, endpoint, self.build_image(endpoint, request))
        try:
            response = self.parse_image(data, request)
        except SHAPE_ERRORS as exc:
            raise bad_response(self.api_style, describe_shape_error(exc), status=status) from None
        if not response.images:
            raise bad_response(self.api_style, "the answer holds no image", status=status)
        return response

    # -- the shared cycle --------------------------------------------------------------------
    async def _post(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, call: HttpCall
    ) -> tuple[Any, int]:
        """One JSON exchange: the decoded 2xx body and status, or a classified ``ProviderError``."""
        try:
            response = await client.for_endpoint(endpoint).post(
                call.url, headers=call.headers, body=orjson.dumps(call.body), timeout_s=endpoint.timeout_s
            )
        except TRANSPORT_ERRORS as exc:
            raise transport_error(self.api_style, exc, endpoint.api_key) from exc
        if not response.is_success:
            raise self.error_for(response, endpoint)
        return load_json(self.api_style, response.content), response.status

    async def complete(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest
    ) -> ChatResponse:
        data, status = await self._post(client, endpoint, self.build(endpoint, request, stream=False))
        return self._parse(data, request, status)

    async def embed(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, request: EmbeddingRequest
    ) -> EmbeddingResponse:
        data, status = await self._post(client, endpoint, self.build_embedding(endpoint, request))
        try:
            response = self.parse_embedding(data, request)
        except SHAPE_ERRORS as exc:
            raise bad_response(self.api_style, describe_shape_error(exc), status=status) from None
        if len(response.vectors) != len(request.inputs):
            raise bad_response(
                self.api_style,
                f"{len(response.vectors)} vectors for {len(request.inputs)} inputs",
                status=status,
            )
        return response

    async def stream(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest
    ) -> AsyncIterator[StreamChunk]:
        call = self.build(endpoint, request, stream=True)
        decoder = self.decoder(request)
        started = False
        try:
            async with client.for_endpoint(endpoint).stream(
                call.url, headers=call.headers, body=orjson.dumps(call.body), timeout_s=endpoint.timeout_s
            ) as response:
                if not response.is_success:
                    body = await response.aread()
                    raise self.error_for(UpstreamResponse(response.status, response.headers, body), endpoint)
                started = True
                if response.headers.get("content-type", "").startswith("application/json"):
                    # The server ignored stream=true and answered in one piece: pass it on whole.
                    whole = self._parse(load_json(self.api_style, await response.aread()), request, 200)
                    yield whole_as_chunk(whole)
                    return
                # Read to the end even after the terminal event so the connection goes back
                # to the pool instead of being closed with unread bytes.
                events = iter_sse(
                    response.aiter_lines(),
                    bare_json_lines=self.bare_json_lines,
                    max_event_chars=response.max_event_bytes,
                )
                async for event in events:
                    for chunk in self._feed(decoder, event, endpoint.api_key):
                        yield chunk
        except TRANSPORT_ERRORS as exc:
            if not (started and decoder.complete):
                raise transport_error(self.api_style, exc, endpoint.api_key, mid_stream=started) from exc
        if not decoder.complete:
            raise ProviderError("stream_broken", f"{self.api_style} stream ended before its final event")
        for chunk in decoder.close():
            yield chunk

    def _parse(self, data: Any, request: ChatRequest, status: int) -> ChatResponse:
        try:
            return self.parse(data, request)
        except SHAPE_ERRORS as exc:
            raise bad_response(self.api_style, describe_shape_error(exc), status=status) from None

    def _feed(self, decoder: StreamDecoder, event: SseEvent, secret: str) -> list[StreamChunk]:
        try:
            return decoder.feed(event)
        except SHAPE_ERRORS as exc:
            raise bad_response(self.api_style, f"stream event {describe_shape_error(exc)}") from None
        except ProviderError as err:  # an in-stream error event: its text came from the provider
            raise scrub(err, secret) from None
