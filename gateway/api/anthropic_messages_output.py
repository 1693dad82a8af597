"""The Anthropic Messages API's output side: the message object, its streamed events and
Anthropic's error shape, built from the pipeline's outcome and stream chunks (the request side is
gateway/api/anthropic_messages.py, whose docstring says which signature a thinking block gets).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from starlette.responses import Response

from gateway import metrics
from gateway.pipeline import Outcome
from gateway.providers.thinking import MARKER_SIGNATURE
from gateway.providers.types import (
    StreamChunk,
    Usage,
)

MAX_DATA = 30_000_000
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
THINKING_SIGNATURE = MARKER_SIGNATURE  # another provider's reasoning: not Anthropic's signature
UNPARSED_ARGUMENTS = "_unparsed_arguments"  # a tool call whose arguments are not a JSON object

# Anthropic's error ``type`` per HTTP status (its API reference, "Errors").
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


# -- answers ----------------------------------------------------------------------------------------
def stop_reason(finish: str | None) -> str:
    return _STOP_REASONS.get(finish or "stop", "end_turn")


def outcome_stop_reason(o: Outcome) -> str:
    return "refusal" if o.refusal and not o.text else stop_reason(o.finish_reason)


def usage_json(u: Usage) -> dict[str, int]:
    """Anthropic's usage: ``input_tokens`` without the cache reads and writes it lists apart."""
    return {
        "input_tokens": max(0, u.input_tokens - u.cached_input_tokens - u.cache_write_tokens),
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cached_input_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
    }


def tool_input(arguments: str) -> dict[str, Any]:
    """A call's arguments as ``tool_use.input``; text that is not a JSON object is kept whole."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {UNPARSED_ARGUMENTS: arguments}


def content_json(o: Outcome) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = list(o.thinking_blocks)  # Anthropic's own, signed
    if o.reasoning and not blocks:
        blocks.append({"type": "thinking", "thinking": o.reasoning, "signature": THINKING_SIGNATURE})
    text = o.text or o.refusal or ""
    if text or not o.tool_calls:
        blocks.append({"type": "text", "text": text})
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": tool_input(c.arguments)}
        for c in o.tool_calls
    )
    return blocks


def message_json(message_id: str, o: Outcome) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": o.model,
        "content": content_json(o),
        "stop_reason": outcome_stop_reason(o),
        "stop_sequence": None,
        "usage": usage_json(o.usage),
    }


# -- streams ----------------------------------------------------------------------------------------
def event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"


class StreamBlocks:
    """Turns canonical chunks into Anthropic's content-block events: one block open at a time
    (thinking, text, or one tool call), each started, filled with deltas and stopped in order.
    A signed thinking block (``StreamChunk.thinking_blocks``) closes the thinking block its text
    streamed into with its own signature; a thinking block still open at a switch is another
    provider's reasoning and gets the marker signature."""

    __slots__ = ("_index", "_open", "_tools")

    def __init__(self) -> None:
        self._index = -1
        self._open: str | None = None  # "thinking" | "text" | "tool:<n>"
        self._tools: dict[int, int] = {}  # canonical tool index -> block index

    def feed(self, chunk: StreamChunk) -> Iterator[bytes]:
        if chunk.reasoning:
            yield from self._switch("thinking", {"type": "thinking", "thinking": "", "signature": ""})
            yield self._delta(self._index, {"type": "thinking_delta", "thinking": chunk.reasoning})
        for block in chunk.thinking_blocks or ():
            yield from self._signed(block)
        text = chunk.delta + chunk.refusal
        if text:
            yield from self._switch("text", {"type": "text", "text": ""})
            yield self._delta(self._index, {"type": "text_delta", "text": text})
        for d in chunk.tool_calls or ():
            if d.index not in self._tools:
                start = {"type": "tool_use", "id": d.id or "", "name": d.name or "", "input": {}}
                yield from self._switch(f"tool:{d.index}", start)
                self._tools[d.index] = self._index
            if d.arguments:
                delta = {"type": "input_json_delta", "partial_json": d.arguments}
                yield self._delta(self._tools[d.index], delta)

    def _signed(self, block: dict[str, Any]) -> Iterator[bytes]:
        """Anthropic's own thinking block, now complete: its signature ends the open thinking
        block (a block whose text did not stream, or a redacted one, is sent whole)."""
        if block.get("type") == "thinking":
            if self._open != "thinking":
                yield from self._switch("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                if block.get("thinking"):
                    yield self._delta(self._index, {"type": "thinking_delta", "thinking": block["thinking"]})
            signature = {"type": "signature_delta", "signature": block.get("signature") or ""}
            yield self._delta(self._index, signature)
        else:
            yield from self.close()
            self._index += 1
            yield event("content_block_start", {"index": self._index, "content_block": block})
        yield event("content_block_stop", {"index": self._index})
        self._open = None

    def close(self) -> Iterator[bytes]:
        if self._open == "thinking":
            yield self._delta(self._index, {"type": "signature_delta", "signature": THINKING_SIGNATURE})
        if self._open is not None:
            yield event("content_block_stop", {"index": self._index})
        self._open = None

    def _switch(self, kind: str, block: dict[str, Any]) -> Iterator[bytes]:
        if self._open == kind:
            return
        yield from self.close()
        self._index += 1
        self._open = kind
        yield event("content_block_start", {"index": self._index, "content_block": block})

    @staticmethod
    def _delta(index: int, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"index": index, "delta": delta})


def message_start(message_id: str, model: str, estimated_input: int) -> bytes:
    message: dict[str, object] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": estimated_input, "output_tokens": 0},
    }
    return event("message_start", {"message": message})


def message_end(o: Outcome) -> bytes:
    delta = {"stop_reason": outcome_stop_reason(o), "stop_sequence": None}
    return event("message_delta", {"delta": delta, "usage": usage_json(o.usage)}) + event("message_stop", {})


# -- errors -----------------------------------------------------------------------------------------
def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_json(
    status: int, code: str, message: str, request_id: str, param: str | None = None
) -> dict[str, Any]:
    """Anthropic's ``ErrorResponse``, with OneVault's own ``code`` (and ``param``) beside its fields."""
    error: dict[str, Any] = {"type": error_type(status), "message": message, "code": code}
    if param is not None:
        error["param"] = param
    return {"type": "error", "error": error, "request_id": request_id}


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    details: Any = None,
    headers: dict[str, str] | None = None,
    param: str | None = None,
    type: str | None = None,
) -> Response:
    """The renderer for this door's errors (gateway/errors.py ``register_error_renderer``)."""
    metrics.child(metrics.ERRORS, code).inc()
    return Response(
        orjson.dumps(error_json(status, code, message, request_id, param)),
        status_code=status,
        media_type="application/json",
        headers={"request-id": request_id, "x-request-id": request_id, **(headers or {})},
    )
