"""Anthropic Messages API: top-level ``system``, mandatory ``max_tokens`` and version header."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request

from gateway.simulator.textgen import SimReply
from gateway.simulator.wires.base import Dialect, Frame, SimCall, WireError, int_or_none, text_of

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def anthropic_usage(reply: SimReply) -> dict[str, Any]:
    """``input_tokens`` excludes cache reads; thinking is billed inside ``output_tokens``."""
    return {
        "input_tokens": reply.input_tokens - reply.cached_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": reply.cached_tokens,
        "output_tokens": reply.output_tokens + reply.reasoning_tokens,
    }


def _stop_reason(reply: SimReply) -> str:
    return "max_tokens" if reply.truncated else "end_turn"


class AnthropicDialect(Dialect):
    api_style: ClassVar[str] = "anthropic"
    key_headers: ClassVar[tuple[str, ...]] = ("x-api-key",)
    id_prefix: ClassVar[str] = "msg_sim"

    def check_headers(self, request: Request) -> None:
        if not request.headers.get("anthropic-version"):
            raise WireError(400, "anthropic-version: header is required")

    def parse(self, body: Any, request: Request) -> SimCall:
        if not isinstance(body, dict):
            raise WireError(400, "the request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise WireError(400, "model: Field required")
        if body.get("max_tokens") is None:
            raise WireError(400, "max_tokens: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError(400, "messages: at least one message is required")
        texts = [text_of(body["system"])] if body.get("system") else []
        prompt = ""
        for message in messages:
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                raise WireError(
                    400,
                    f'messages: Unexpected role "{role}". The Messages API accepts a top-level `system` '
                    'parameter, not "system" as an input message role.',
                )
            text = text_of(message.get("content"))
            texts.append(text)
            if role == "user":
                prompt = text
        return SimCall(
            api_style=self.api_style,
            model=model,
            prompt=prompt,
            input_texts=texts,
            max_tokens=int_or_none(body["max_tokens"], "max_tokens"),
            stream=bool(body.get("stream")),
        )

    def completion(self, call: SimCall, reply: SimReply, request_id: str) -> dict[str, Any]:
        return {
            "id": request_id,
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": _stop_reason(reply),
            "stop_sequence": None,
            "usage": anthropic_usage(reply),
        }

    def stream_open(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        usage = anthropic_usage(reply)
        usage["output_tokens"] = 1
        message = {
            "id": request_id,
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return [
            ("message_start", {"type": "message_start", "message": message}),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
        ]

    def stream_delta(self, call: SimCall, text: str, request_id: str) -> Frame:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        )

    def stream_close(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        output = reply.output_tokens + reply.reasoning_tokens
        return [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                    "usage": {"output_tokens": output},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]

    def error_body(self, status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
