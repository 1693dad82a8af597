"""OpenAI Chat Completions (``POST {base}/chat/completions``, ``Authorization: Bearer``).

Streams ask for ``stream_options.include_usage`` so the last event before ``data: [DONE]``
carries the usage block; the decoder holds usage back and emits it once, on the final chunk,
even from servers that repeat it on every event. Azure OpenAI and OpenAI-compatible servers
subclass this adapter and override only what differs (URL, auth header, strictness).
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from gateway.providers.adapter import HttpAdapter, HttpCall, StreamDecoder
from gateway.providers.base import ProviderEndpoint
from gateway.providers.errors import error_class_for_status, sanitise
from gateway.providers.sse import SseEvent
from gateway.providers.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ProviderError,
    StreamChunk,
    Usage,
)


def openai_usage(block: dict[str, Any]) -> Usage:
    """``prompt_tokens`` already includes cached tokens, ``completion_tokens`` reasoning ones."""
    prompt_details = block.get("prompt_tokens_details") or {}
    completion_details = block.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=int(block.get("prompt_tokens") or 0),
        output_tokens=int(block.get("completion_tokens") or 0),
        cached_input_tokens=int(prompt_details.get("cached_tokens") or 0),
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
    )


def wire_role(role: str) -> str:
    """Tool results travel as user turns: the canonical message carries no tool-call id."""
    return "user" if role == "tool" else role


class OpenAIAdapter(HttpAdapter):
    api_style: ClassVar[str] = "openai"
    max_tokens_field: ClassVar[str] = "max_completion_tokens"  # max_tokens is rejected by o-series
    send_model: ClassVar[bool] = True
    done_required: ClassVar[bool] = True  # a stream must end with data: [DONE]

    def url(self, endpoint: ProviderEndpoint, request: ChatRequest) -> str:
        return f"{endpoint.base_url}/chat/completions"

    def auth_headers(self, endpoint: ProviderEndpoint) -> dict[str, str]:
        return {"authorization": f"Bearer {endpoint.api_key}"}

    def include_usage(self, endpoint: ProviderEndpoint) -> bool:
        return True

    def build(self, endpoint: ProviderEndpoint, request: ChatRequest, *, stream: bool) -> HttpCall:
        body: dict[str, Any] = {
            "messages": [{"role": wire_role(m.role), "content": m.content} for m in request.messages]
        }
        if self.send_model:
            body["model"] = request.model
        if request.max_tokens is not None:
            body[self.max_tokens_field] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = request.stop
        if request.user is not None:
            body["user"] = request.user
        if stream:
            body["stream"] = True
            if self.include_usage(endpoint):
                body["stream_options"] = {"include_usage": True}
        headers = {"content-type": "application/json", **self.auth_headers(endpoint)}
        return HttpCall(self.url(endpoint, request), headers, body)

    def parse(self, data: Any, request: ChatRequest) -> ChatResponse:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        text = message.get("content") or message.get("refusal") or ""
        if not isinstance(text, str):
            raise TypeError("message content is not text")
        block = data.get("usage")
        usage = openai_usage(block) if block is not None else self.missing_usage(request, text)
        return ChatResponse(
            text=text,
            finish_reason=choice.get("finish_reason"),
            usage=usage,
            model=data.get("model") or request.model,
            provider_request_id=data.get("id"),
        )

    def missing_usage(self, request: ChatRequest, text: str) -> Usage:
        """OpenAI always reports usage on a complete answer; its absence means a broken reply."""
        raise KeyError("usage")

    # -- embeddings: POST {base}/embeddings ----------------------------------------------------
    def embeddings_url(self, endpoint: ProviderEndpoint, request: EmbeddingRequest) -> str:
        return f"{endpoint.base_url}/embeddings"

    def build_embedding(self, endpoint: ProviderEndpoint, request: EmbeddingRequest) -> HttpCall:
        body: dict[str, Any] = {"input": request.inputs, "encoding_format": "float"}
        if self.send_model:
            body["model"] = request.model
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        if request.user is not None:
            body["user"] = request.user
        headers = {"content-type": "application/json", **self.auth_headers(endpoint)}
        return HttpCall(self.embeddings_url(endpoint, request), headers, body)

    def parse_embedding(self, data: Any, request: EmbeddingRequest) -> EmbeddingResponse:
        items = sorted(data["data"], key=lambda item: int(item.get("index", 0)))
        vectors = [[float(x) for x in item["embedding"]] for item in items]
        block = data.get("usage")
        usage = (
            Usage(input_tokens=int(block.get("prompt_tokens") or block.get("total_tokens") or 0))
            if block is not None
            else self.missing_embedding_usage(request)
        )
        return EmbeddingResponse(vectors, usage, data.get("model") or request.model)

    def missing_embedding_usage(self, request: EmbeddingRequest) -> Usage:
        raise KeyError("usage")

    def decoder(self, request: ChatRequest) -> StreamDecoder:
        return OpenAIStreamDecoder(self.api_style, self.done_required)


class OpenAIStreamDecoder(StreamDecoder):
    __slots__ = ("_api_style", "_done", "_done_required", "_finished", "_usage")

    def __init__(self, api_style: str, done_required: bool) -> None:
        self._api_style = api_style
        self._done_required = done_required
        self._done = False
        self._finished = False
        self._usage: Usage | None = None

    @property
    def complete(self) -> bool:
        return self._done or (self._finished and not self._done_required)

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        if self._done:
            return []
        if event.data.strip() == "[DONE]":
            self._done = True
            return self._final()
        data = orjson.loads(event.data)
        error = data.get("error")
        if error:
            raise _stream_error(self._api_style, error)
        chunks: list[StreamChunk] = []
        for choice in data.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            finish = choice.get("finish_reason")
            if finish:
                self._finished = True
            if text or finish:
                chunks.append(StreamChunk(delta=text, finish_reason=finish))
        block = data.get("usage")
        if block:
            self._usage = openai_usage(block)
        return chunks

    def close(self) -> list[StreamChunk]:
        return [] if self._done else self._final()

    def _final(self) -> list[StreamChunk]:
        return [StreamChunk(usage=self._usage)] if self._usage is not None else []


def _stream_error(api_style: str, error: Any) -> ProviderError:
    """An error event sent after a 200 (``data: {"error": {...}}``)."""
    if not isinstance(error, dict):
        error = {"message": str(error)}
    code = str(error.get("code") or error.get("type") or "")
    status = error.get("status") if isinstance(error.get("status"), int) else None
    if "rate_limit" in code:
        error_class = "rate_limited"
    elif status is not None:
        error_class = error_class_for_status(status)
    else:
        error_class = "server_error"
    message = f"{api_style} stream error {code}: {error.get('message') or ''}".strip()
    return ProviderError(error_class, sanitise(message, None), status=status)
