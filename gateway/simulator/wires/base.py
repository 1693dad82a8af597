"""What each simulated provider wire defines: request parsing, answers, stream frames, errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from starlette.requests import Request

from gateway.simulator.textgen import SimReply
from gateway.simulator.toolgen import MediaTokens, SimTool

# One SSE frame: (event name or None, payload: a JSON-able object or a literal string such as [DONE]).
Frame = tuple[str | None, Any]

STATUS_MESSAGES: dict[int, str] = {
    400: "Invalid request.",
    401: "Invalid API key provided.",
    404: "The requested resource was not found.",
    429: "Rate limit reached for requests (simulated). Please try again later.",
    500: "The server had an error while processing your request (simulated).",
    503: "The service is temporarily overloaded (simulated). Please try again later.",
}


class WireError(Exception):
    """A request the real provider would reject, answered in its error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class SimCall:
    """A parsed provider request, wire-neutral."""

    api_style: str
    model: str
    prompt: str  # the last user turn: what the reply echoes
    input_texts: list[str]  # every prompt text, system included: what input tokens count
    max_tokens: int | None
    stream: bool
    include_usage: bool = True  # OpenAI streams carry usage only when asked
    sse: bool = True  # Gemini streams without alt=sse are a JSON array instead
    # What the full-fidelity request asked for (gateway/simulator/toolgen.py decides the answer).
    tools: list[SimTool] = field(default_factory=list)
    tool_choice: str = "auto"  # auto | none | required
    forced_tool: str | None = None  # a tool the request forces by name
    parallel_tool_calls: bool = True
    response_schema: dict[str, Any] | None = None  # json_schema response format
    json_mode: bool = False  # json_object (or json_schema: then response_schema is set)
    media: MediaTokens = field(default_factory=MediaTokens)
    ends_with_user: bool = True  # the conversation's last turn is the user's (not a tool result)
    reasoning: bool | None = None  # the request asked for (True) or turned off (False) thinking
    thinking_budget: int | None = None


def text_of(content: Any) -> str:
    """Text of a message content given as a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return ""


def int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WireError(400, f"{name}: must be a positive integer")
    return value


def encode_frame(frame: Frame) -> bytes:
    event, payload = frame
    data = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
    if event:
        return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"


class Dialect(ABC):
    api_style: ClassVar[str]
    key_headers: ClassVar[tuple[str, ...]]  # where the API key may arrive, first match wins
    id_prefix: ClassVar[str] = "sim-"  # response ids look like the provider's
    call_id_prefix: ClassVar[str] = "call_"  # tool-call ids too (Anthropic: toolu_)

    def api_key(self, request: Request) -> str | None:
        headers = request.headers
        for name in self.key_headers:
            value = headers.get(name)
            if value:
                if name == "authorization":
                    scheme, _, token = value.partition(" ")
                    return token.strip() if scheme.lower() == "bearer" else None
                return value
        return None

    def check_headers(self, request: Request) -> None:
        """Reject a request missing headers the provider requires (beyond the key)."""
        return None

    @abstractmethod
    def parse(self, body: Any, request: Request) -> SimCall: ...

    @abstractmethod
    def completion(self, call: SimCall, reply: SimReply, request_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def stream_open(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]: ...

    @abstractmethod
    def stream_delta(self, call: SimCall, text: str, request_id: str) -> Frame: ...

    def stream_tool_calls(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        """Frames streaming ``reply.tool_calls`` in the provider's own event format (after the
        text deltas, before ``stream_close``)."""
        return []

    def stream_reasoning(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        """Frames streaming ``reply.reasoning_text`` (before the text deltas), where the wire has them."""
        return []

    @abstractmethod
    def stream_close(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]: ...

    @abstractmethod
    def error_body(self, status: int, message: str, retry_after: float | None = None) -> dict[str, Any]: ...

    def error_headers(self, status: int, retry_after: float | None) -> dict[str, str]:
        if retry_after is None or status not in (429, 503):
            return {}
        return {"retry-after": format_seconds(retry_after)}


def format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
