"""Gemini ``models/{model}:generateContent`` and ``:streamGenerateContent`` (``alt=sse``)."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request

from gateway.simulator.textgen import SimReply
from gateway.simulator.wires.base import (
    Dialect,
    Frame,
    SimCall,
    WireError,
    format_seconds,
    int_or_none,
    text_of,
)

_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_METHODS = ("generateContent", "streamGenerateContent")


def usage_metadata(reply: SimReply) -> dict[str, Any]:
    """``promptTokenCount`` includes the cached part; thoughts are counted apart from candidates."""
    meta: dict[str, Any] = {
        "promptTokenCount": reply.input_tokens,
        "candidatesTokenCount": reply.output_tokens,
        "totalTokenCount": reply.input_tokens + reply.output_tokens + reply.reasoning_tokens,
    }
    if reply.cached_tokens:
        meta["cachedContentTokenCount"] = reply.cached_tokens
    if reply.reasoning_tokens:
        meta["thoughtsTokenCount"] = reply.reasoning_tokens
    return meta


class GeminiDialect(Dialect):
    api_style: ClassVar[str] = "gemini"
    key_headers: ClassVar[tuple[str, ...]] = ("x-goog-api-key",)

    def api_key(self, request: Request) -> str | None:
        return super().api_key(request) or request.query_params.get("key") or None

    def parse(self, body: Any, request: Request) -> SimCall:
        model, _, method = request.path_params["target"].rpartition(":")
        if not model or method not in _METHODS:
            raise WireError(404, f"Method {method or request.path_params['target']!r} not found.")
        if not isinstance(body, dict):
            raise WireError(400, "Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise WireError(400, "* GenerateContentRequest.contents: contents is not specified")
        texts: list[str] = []
        system = body.get("systemInstruction") or body.get("system_instruction")
        if isinstance(system, dict):
            texts.append(text_of(system.get("parts")))
        prompt = ""
        for content in contents:
            role = content.get("role", "user") if isinstance(content, dict) else None
            if role not in ("user", "model"):
                raise WireError(400, "Please use a valid role: user, model.")
            text = text_of(content.get("parts"))
            texts.append(text)
            if role == "user":
                prompt = text
        config = body.get("generationConfig") or body.get("generation_config") or {}
        return SimCall(
            api_style=self.api_style,
            model=model,
            prompt=prompt,
            input_texts=texts,
            max_tokens=int_or_none(config.get("maxOutputTokens"), "maxOutputTokens"),
            stream=method == "streamGenerateContent",
            sse=request.query_params.get("alt") == "sse",
        )

    def _response(
        self, call: SimCall, reply: SimReply, request_id: str, text: str, finish: str | None, final: bool
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        meta = usage_metadata(reply) if final else {"promptTokenCount": reply.input_tokens}
        return {
            "candidates": [candidate],
            "usageMetadata": meta,
            "modelVersion": call.model,
            "responseId": request_id,
        }

    def completion(self, call: SimCall, reply: SimReply, request_id: str) -> dict[str, Any]:
        return self._response(call, reply, request_id, reply.text, _finish(reply), True)

    def stream_open(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        return []  # Gemini has no preamble: every event is a whole response

    def stream_delta(self, call: SimCall, text: str, request_id: str) -> Frame:
        candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
        return (None, {"candidates": [candidate], "modelVersion": call.model, "responseId": request_id})

    def stream_close(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        return [(None, self._response(call, reply, request_id, "", _finish(reply), True))]

    def error_body(self, status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _STATUSES.get(status, "INVALID_ARGUMENT" if status < 500 else "INTERNAL"),
        }
        if retry_after is not None and status == 429:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{format_seconds(retry_after)}s",
                }
            ]
        return {"error": error}

    def error_headers(self, status: int, retry_after: float | None) -> dict[str, str]:
        return {}  # Gemini's retry hint is RetryInfo in the body, not a header


def _finish(reply: SimReply) -> str:
    return "MAX_TOKENS" if reply.truncated else "STOP"
