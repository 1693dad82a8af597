"""Cohere Chat v2 (``POST {base}/v2/chat``, ``Authorization: Bearer``).

Usage comes from ``usage.billed_units`` (what Cohere charges for; ``usage.tokens`` also counts
the prompt template Cohere adds) plus ``usage.cached_tokens``, which billed units exclude; it
falls back to ``usage.tokens`` when no billed units are given. Streams are SSE events whose JSON
``type`` is ``content-delta`` (text) ... ``message-end`` (finish reason and usage, terminal).

Embeddings: ``POST {base}/v2/embed`` with ``texts``, ``input_type`` (``search_query`` /
``search_document``), ``embedding_types: ["float"]`` and, for embed-v4, ``output_dimension``;
vectors come back in ``embeddings.float``, tokens in ``meta.billed_units.input_tokens``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import orjson

from gateway.providers.adapter import HttpAdapter, HttpCall, StreamDecoder
from gateway.providers.base import ProviderEndpoint
from gateway.providers.sse import SseEvent
from gateway.providers.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamChunk,
    Usage,
)

_FINISH: Final = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}


def cohere_usage(block: dict[str, Any]) -> Usage:
    cached = int(block.get("cached_tokens") or 0)
    billed = block.get("billed_units") or {}
    if billed.get("input_tokens") is not None or billed.get("output_tokens") is not None:
        return Usage(
            input_tokens=int(billed.get("input_tokens") or 0) + cached,
            output_tokens=int(billed.get("output_tokens") or 0),
            cached_input_tokens=cached,
        )
    tokens = block.get("tokens") or {}
    return Usage(
        input_tokens=int(tokens.get("input_tokens") or 0),
        output_tokens=int(tokens.get("output_tokens") or 0),
        cached_input_tokens=cached,
    )


_INPUT_TYPES: Final = {"query": "search_query", "document": "search_document"}


def finish_reason(reason: str | None) -> str | None:
    return None if reason is None else _FINISH.get(reason, reason.lower())


class CohereAdapter(HttpAdapter):
    api_style: ClassVar[str] = "cohere"
    bare_json_lines: ClassVar[bool] = True

    def build(self, endpoint: ProviderEndpoint, request: ChatRequest, *, stream: bool) -> HttpCall:
        base = endpoint.base_url
        url = f"{base}/chat" if base.endswith("/v2") else f"{base}/v2/chat"
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [
                {"role": "user" if m.role == "tool" else m.role, "content": m.content}
                for m in request.messages
            ],
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = request.stop
        if stream:
            body["stream"] = True
        headers = {"content-type": "application/json", "authorization": f"Bearer {endpoint.api_key}"}
        return HttpCall(url, headers, body)

    def build_embedding(self, endpoint: ProviderEndpoint, request: EmbeddingRequest) -> HttpCall:
        base = endpoint.base_url
        url = f"{base}/embed" if base.endswith("/v2") else f"{base}/v2/embed"
        body: dict[str, Any] = {
            "model": request.model,
            "texts": request.inputs,
            "input_type": _INPUT_TYPES.get(request.purpose, "search_query"),
            "embedding_types": ["float"],
        }
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions
        headers = {"content-type": "application/json", "authorization": f"Bearer {endpoint.api_key}"}
        return HttpCall(url, headers, body)

    def parse_embedding(self, data: Any, request: EmbeddingRequest) -> EmbeddingResponse:
        vectors = [[float(x) for x in vector] for vector in data["embeddings"]["float"]]
        billed = (data.get("meta") or {}).get("billed_units") or {}
        usage = Usage(input_tokens=int(billed.get("input_tokens") or 0))
        return EmbeddingResponse(vectors, usage, request.model)

    def parse(self, data: Any, request: ChatRequest) -> ChatResponse:
        content = data["message"].get("content") or ()
        text = "".join(part.get("text", "") for part in content if part.get("type", "text") == "text")
        return ChatResponse(
            text=text,
            finish_reason=finish_reason(data.get("finish_reason")),
            usage=cohere_usage(data["usage"]),
            model=data.get("model") or request.model,
            provider_request_id=data.get("id"),
        )

    def decoder(self, request: ChatRequest) -> StreamDecoder:
        return CohereStreamDecoder()


class CohereStreamDecoder(StreamDecoder):
    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done = False

    @property
    def complete(self) -> bool:
        return self._done

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        if self._done or event.data.strip() == "[DONE]":
            return []
        data = orjson.loads(event.data)
        kind = data.get("type") or event.event
        if kind == "content-delta":
            text = data["delta"]["message"]["content"].get("text") or ""
            return [StreamChunk(delta=text)] if text else []
        if kind == "message-end":
            self._done = True
            delta = data.get("delta") or {}
            usage = delta.get("usage")
            return [
                StreamChunk(
                    finish_reason=finish_reason(delta.get("finish_reason")),
                    usage=cohere_usage(usage) if usage else None,
                )
            ]
        return []
