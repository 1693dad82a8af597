"""Anthropic Messages API (``POST {base}/v1/messages``, ``x-api-key``, ``anthropic-version``).

System messages move to the top-level ``system`` field (the API rejects a ``system`` role);
``max_tokens`` is mandatory there, so it defaults to 1024. Anthropic's ``input_tokens`` counts
only uncached prompt tokens: cache reads and cache writes are added back so ``input_tokens``
means the whole prompt, as in every adapter (cache writes are priced as ordinary input).

Streams: ``message_start`` (input usage), ``content_block_delta`` (text), ``message_delta``
(stop reason, cumulative output usage), ``message_stop`` (terminal); an ``error`` event mid-stream
is raised after what came before it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import orjson

from gateway.providers.adapter import HttpAdapter, HttpCall, StreamDecoder
from gateway.providers.base import DEFAULT_ANTHROPIC_VERSION, ProviderEndpoint
from gateway.providers.errors import sanitise
from gateway.providers.sse import SseEvent
from gateway.providers.types import ChatRequest, ChatResponse, ProviderError, StreamChunk, Usage

DEFAULT_MAX_TOKENS: Final = 1024

_FINISH: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_ERROR_TYPES: Final = {
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "rate_limit_error": "rate_limited",
    "timeout_error": "timeout",
    "authentication_error": "auth",
    "permission_error": "auth",
    "not_found_error": "not_found",
    "invalid_request_error": "bad_request",
    "request_too_large": "bad_request",
}


def anthropic_usage(block: dict[str, Any]) -> Usage:
    read = int(block.get("cache_read_input_tokens") or 0)
    written = int(block.get("cache_creation_input_tokens") or 0)
    return Usage(
        input_tokens=int(block.get("input_tokens") or 0) + read + written,
        output_tokens=int(block.get("output_tokens") or 0),
        cached_input_tokens=read,
    )


def finish_reason(stop_reason: str | None) -> str | None:
    return None if stop_reason is None else _FINISH.get(stop_reason, stop_reason.lower())


class AnthropicAdapter(HttpAdapter):
    api_style: ClassVar[str] = "anthropic"

    def build(self, endpoint: ProviderEndpoint, request: ChatRequest, *, stream: bool) -> HttpCall:
        base = endpoint.base_url
        url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS,
            "messages": [
                {"role": "assistant" if m.role == "assistant" else "user", "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = request.stop
        if request.user is not None:
            body["metadata"] = {"user_id": request.user}
        if stream:
            body["stream"] = True
        headers = {
            "content-type": "application/json",
            "x-api-key": endpoint.api_key,
            "anthropic-version": endpoint.api_version or DEFAULT_ANTHROPIC_VERSION,
        }
        return HttpCall(url, headers, body)

    def parse(self, data: Any, request: ChatRequest) -> ChatResponse:
        text = "".join(block["text"] for block in data["content"] if block.get("type") == "text")
        return ChatResponse(
            text=text,
            finish_reason=finish_reason(data.get("stop_reason")),
            usage=anthropic_usage(data["usage"]),
            model=data.get("model") or request.model,
            provider_request_id=data.get("id"),
        )

    def decoder(self, request: ChatRequest) -> StreamDecoder:
        return AnthropicStreamDecoder()


class AnthropicStreamDecoder(StreamDecoder):
    __slots__ = ("_done", "_stop_reason", "_usage")

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._done = False

    @property
    def complete(self) -> bool:
        return self._done

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        if self._done:
            return []
        data = orjson.loads(event.data)
        kind = data.get("type") or event.event
        if kind == "content_block_delta":
            delta = data["delta"]
            if delta.get("type") == "text_delta" and delta["text"]:
                return [StreamChunk(delta=delta["text"])]
        elif kind == "message_start":
            self._usage.update(data["message"].get("usage") or {})
        elif kind == "message_delta":
            self._stop_reason = (data.get("delta") or {}).get("stop_reason") or self._stop_reason
            self._usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self._done = True
            usage = anthropic_usage(self._usage) if self._usage else None
            return [StreamChunk(finish_reason=finish_reason(self._stop_reason), usage=usage)]
        elif kind == "error":
            error = data.get("error") or {}
            error_type = str(error.get("type") or "error")
            message = f"anthropic stream error {error_type}: {error.get('message') or ''}"
            raise ProviderError(_ERROR_TYPES.get(error_type, "server_error"), sanitise(message, None))
        return []
