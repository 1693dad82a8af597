"""Cohere Chat v2 (``POST /v2/chat``): typed content parts, SSE events named by ``type``."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request

from gateway.simulator.textgen import SimReply
from gateway.simulator.wires.base import Dialect, Frame, SimCall, WireError, int_or_none, text_of

TEMPLATE_TOKENS = 8  # Cohere's own prompt template: counted in usage.tokens, never billed


def cohere_usage(reply: SimReply) -> dict[str, Any]:
    """Billed units exclude cached tokens (reported apart) and Cohere's template tokens;
    reasoning, which Cohere does not report apart, is inside the output tokens."""
    output = reply.output_tokens + reply.reasoning_tokens
    usage: dict[str, Any] = {
        "billed_units": {"input_tokens": reply.input_tokens - reply.cached_tokens, "output_tokens": output},
        "tokens": {"input_tokens": reply.input_tokens + TEMPLATE_TOKENS, "output_tokens": output},
    }
    if reply.cached_tokens:
        usage["cached_tokens"] = reply.cached_tokens
    return usage


def _finish(reply: SimReply) -> str:
    return "MAX_TOKENS" if reply.truncated else "COMPLETE"


class CohereDialect(Dialect):
    api_style: ClassVar[str] = "cohere"
    key_headers: ClassVar[tuple[str, ...]] = ("authorization",)

    def parse(self, body: Any, request: Request) -> SimCall:
        if not isinstance(body, dict):
            raise WireError(400, "invalid request: body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise WireError(400, "invalid request: model must be specified")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError(400, "invalid request: messages must not be empty")
        texts: list[str] = []
        prompt = ""
        for message in messages:
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("system", "user", "assistant", "tool"):
                raise WireError(400, f"invalid request: unknown message role {role!r}")
            text = text_of(message.get("content"))
            texts.append(text)
            if role == "user":
                prompt = text
        return SimCall(
            api_style=self.api_style,
            model=model,
            prompt=prompt,
            input_texts=texts,
            max_tokens=int_or_none(body.get("max_tokens"), "max_tokens"),
            stream=bool(body.get("stream")),
        )

    def completion(self, call: SimCall, reply: SimReply, request_id: str) -> dict[str, Any]:
        return {
            "id": request_id,
            "finish_reason": _finish(reply),
            "message": {"role": "assistant", "content": [{"type": "text", "text": reply.text}]},
            "usage": cohere_usage(reply),
        }

    def stream_open(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        start = {
            "id": request_id,
            "type": "message-start",
            "delta": {
                "message": {
                    "role": "assistant",
                    "content": [],
                    "tool_plan": "",
                    "tool_calls": [],
                    "citations": [],
                }
            },
        }
        content = {
            "type": "content-start",
            "index": 0,
            "delta": {"message": {"content": {"type": "text", "text": ""}}},
        }
        return [("message-start", start), ("content-start", content)]

    def stream_delta(self, call: SimCall, text: str, request_id: str) -> Frame:
        return (
            "content-delta",
            {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": text}}}},
        )

    def stream_close(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        end = {
            "type": "message-end",
            "delta": {"finish_reason": _finish(reply), "usage": cohere_usage(reply)},
        }
        return [("content-end", {"type": "content-end", "index": 0}), ("message-end", end)]

    def error_body(self, status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        return {"message": message}
