"""Google Gemini API (``POST {base}/v1beta/models/{model}:generateContent``, ``x-goog-api-key``).

Streams use ``:streamGenerateContent?alt=sse``: every event is a whole ``GenerateContentResponse``
and there is no terminal event, so a stream is complete once a candidate reports its
``finishReason``; usage is taken from the last ``usageMetadata`` seen and emitted at the end.

Roles are ``user`` and ``model``; system messages become ``systemInstruction``. Usage:
``promptTokenCount`` already includes cached tokens; thinking models report
``thoughtsTokenCount`` apart from ``candidatesTokenCount``, so output = candidates + thoughts.
Thought-summary parts (``"thought": true``) are not part of the answer text.

Embeddings use ``:batchEmbedContents`` (one ``EmbedContentRequest`` per input, each naming its
model; answer ``{"embeddings": [{"values": [...]}]}``); the API reports no token counts for
embeddings unless ``usageMetadata`` is present, so input tokens are estimated then.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final
from urllib.parse import quote

import orjson

from gateway.providers.adapter import HttpAdapter, HttpCall, StreamDecoder
from gateway.providers.base import ProviderEndpoint
from gateway.providers.errors import decode_error_body, error_class_for_status, error_from_response, sanitise
from gateway.providers.http import UpstreamResponse
from gateway.providers.openai_compatible import estimate_tokens
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

_FILTERED: Final = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)
_AUTH_STATUSES: Final = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})
_AUTH_REASONS: Final = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_TASK_TYPES: Final = {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"}


def gemini_usage(meta: dict[str, Any]) -> Usage:
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cached_input_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def finish_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    if reason == "STOP":
        return "stop"
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return reason.lower()


def candidate_text(candidate: dict[str, Any]) -> str:
    parts = (candidate.get("content") or {}).get("parts") or ()
    return "".join(p.get("text", "") for p in parts if not p.get("thought"))


class GeminiAdapter(HttpAdapter):
    api_style: ClassVar[str] = "gemini"

    def build(self, endpoint: ProviderEndpoint, request: ChatRequest, *, stream: bool) -> HttpCall:
        base = endpoint.base_url
        root = base if base.endswith(("/v1beta", "/v1")) else f"{base}/v1beta"
        model = quote(request.model.removeprefix("models/"), safe="")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "contents": [
                {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
                for m in request.messages
                if m.role != "system"
            ]
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config: dict[str, Any] = {}
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.stop:
            config["stopSequences"] = request.stop
        if config:
            body["generationConfig"] = config
        headers = {"content-type": "application/json", "x-goog-api-key": endpoint.api_key}
        return HttpCall(f"{root}/models/{model}:{method}", headers, body)

    def build_embedding(self, endpoint: ProviderEndpoint, request: EmbeddingRequest) -> HttpCall:
        base = endpoint.base_url
        root = base if base.endswith(("/v1beta", "/v1")) else f"{base}/v1beta"
        name = request.model.removeprefix("models/")
        one: dict[str, Any] = {"model": f"models/{name}"}
        if request.purpose in _TASK_TYPES:
            one["taskType"] = _TASK_TYPES[request.purpose]
        if request.dimensions is not None:
            one["outputDimensionality"] = request.dimensions
        body = {"requests": [{**one, "content": {"parts": [{"text": text}]}} for text in request.inputs]}
        headers = {"content-type": "application/json", "x-goog-api-key": endpoint.api_key}
        return HttpCall(f"{root}/models/{quote(name, safe='')}:batchEmbedContents", headers, body)

    def parse_embedding(self, data: Any, request: EmbeddingRequest) -> EmbeddingResponse:
        vectors = [[float(x) for x in item["values"]] for item in data["embeddings"]]
        meta = data.get("usageMetadata") or {}
        tokens = meta.get("promptTokenCount")
        if tokens is None:
            tokens = sum(estimate_tokens(text) for text in request.inputs)
        return EmbeddingResponse(vectors, Usage(input_tokens=int(tokens)), request.model)

    def parse(self, data: Any, request: ChatRequest) -> ChatResponse:
        candidates = data.get("candidates")
        if candidates:
            text = candidate_text(candidates[0])
            finish = finish_reason(candidates[0].get("finishReason"))
        elif (data.get("promptFeedback") or {}).get("blockReason"):
            text, finish = "", "content_filter"  # the prompt itself was blocked
        else:
            raise KeyError("candidates")
        return ChatResponse(
            text=text,
            finish_reason=finish,
            usage=gemini_usage(data["usageMetadata"]),
            model=data.get("modelVersion") or request.model,
            provider_request_id=data.get("responseId"),
        )

    def decoder(self, request: ChatRequest) -> StreamDecoder:
        return GeminiStreamDecoder()

    def error_for(self, response: UpstreamResponse, endpoint: ProviderEndpoint) -> ProviderError:
        """Gemini puts retry hints in ``RetryInfo`` and reports bad keys as 400 ``API_KEY_INVALID``."""
        body = decode_error_body(response.content)
        error = body.get("error") if isinstance(body, dict) else None
        error_class: str | None = None
        retry_after: float | None = None
        if isinstance(error, dict):
            details = [d for d in error.get("details") or () if isinstance(d, dict)]
            reasons = {d.get("reason") for d in details}
            if error.get("status") in _AUTH_STATUSES or reasons & _AUTH_REASONS:
                error_class = "auth"
            for detail in details:
                match = _DURATION.match(str(detail.get("retryDelay", "")))
                if match:
                    retry_after = float(match.group(1))
        return error_from_response(
            self.api_style,
            response,
            endpoint.api_key,
            error_class=error_class,
            retry_after=retry_after,
            body=body,
        )


class GeminiStreamDecoder(StreamDecoder):
    __slots__ = ("_finish", "_usage")

    def __init__(self) -> None:
        self._finish: str | None = None
        self._usage: Usage | None = None

    @property
    def complete(self) -> bool:
        return self._finish is not None

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        data = orjson.loads(event.data)
        error = data.get("error")
        if error:
            status = error.get("code") if isinstance(error.get("code"), int) else None
            message = f"gemini stream error {error.get('status') or ''}: {error.get('message') or ''}"
            error_class = error_class_for_status(status) if status else "server_error"
            raise ProviderError(error_class, sanitise(message, None), status=status)
        meta = data.get("usageMetadata")
        if meta:
            self._usage = gemini_usage(meta)
        candidates = data.get("candidates")
        if not candidates:
            if (data.get("promptFeedback") or {}).get("blockReason"):
                self._finish = "content_filter"
            return []
        candidate = candidates[0]
        text = candidate_text(candidate)
        reason = candidate.get("finishReason")
        if reason:
            self._finish = finish_reason(reason)
        return [StreamChunk(delta=text)] if text else []

    def close(self) -> list[StreamChunk]:
        return [StreamChunk(finish_reason=self._finish, usage=self._usage)]
