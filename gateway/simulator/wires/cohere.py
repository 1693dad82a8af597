"""Cohere Chat v2 (``POST /v2/chat``): typed content parts, SSE events named by ``type``.

What the request may hold is checked as Cohere's v2 reference defines it (roles ``system``,
``user``, ``assistant``, ``tool`` only; ``tools`` of ``type: function`` with a JSON Schema;
``tool_choice`` ``REQUIRED`` (which needs tools) or ``NONE``; ``response_format`` ``text`` or
``json_object`` with an optional ``json_schema``; ``thinking`` ``enabled`` / ``disabled`` with a
positive ``token_budget``; ``image_url`` parts in user turns; a ``tool`` turn must answer a
``tool_calls`` id of an earlier assistant turn) and refused with a 400 in Cohere's
``{"message"}`` shape otherwise.

Answers: tool calls come as ``message.tool_calls`` with a ``tool_plan`` and ``finish_reason:
TOOL_CALL``; a thinking model's visible summary is a ``thinking`` content item before the text.
Streams send ``message-start``; for a thinking model a ``thinking`` content block (index 0, the
text block is then index 1); then either the text block or ``tool-plan-delta`` events followed,
per call, by ``tool-call-start`` (id, name, empty arguments), ``tool-call-delta`` (argument
pieces) and ``tool-call-end``; and ``message-end``. Call ids look like Cohere's
(``<tool name>_<id>``). The tool plan is generated text, so its tokens are billed as output.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from starlette.requests import Request

from gateway.simulator.textgen import SimReply, count_tokens, is_reasoning_model
from gateway.simulator.toolgen import (
    MediaTokens,
    SimTool,
    SimToolCall,
    ToolSchemaError,
    check_schema,
    check_tool,
    json_pieces,
)
from gateway.simulator.wires.base import Dialect, Frame, SimCall, WireError, int_or_none, text_of

TEMPLATE_TOKENS = 8  # Cohere's own prompt template: counted in usage.tokens, never billed
ROLES: Final = ("system", "user", "assistant", "tool")
TOOL_CHOICES: Final = {"REQUIRED": "required", "NONE": "none"}
IMAGE_URL_PREFIXES: Final = ("http://", "https://", "data:image/")


def tool_plan(reply: SimReply) -> str:
    """The plan Cohere writes before calling tools (empty when the answer is text)."""
    if not reply.tool_calls:
        return ""
    names = ", ".join(dict.fromkeys(c.name for c in reply.tool_calls))
    return f"I will call {names} to answer this."


def cohere_usage(reply: SimReply) -> dict[str, Any]:
    """Billed units exclude cached tokens (reported apart) and Cohere's template tokens;
    reasoning, which Cohere does not report apart, and the tool plan are inside the output tokens."""
    plan = tool_plan(reply)
    output = reply.output_tokens + reply.reasoning_tokens + (count_tokens(plan) if plan else 0)
    usage: dict[str, Any] = {
        "billed_units": {"input_tokens": reply.input_tokens - reply.cached_tokens, "output_tokens": output},
        "tokens": {"input_tokens": reply.input_tokens + TEMPLATE_TOKENS, "output_tokens": output},
    }
    if reply.cached_tokens:
        usage["cached_tokens"] = reply.cached_tokens
    return usage


def _finish(reply: SimReply) -> str:
    if reply.tool_calls:
        return "TOOL_CALL"
    return "MAX_TOKENS" if reply.truncated else "COMPLETE"


def call_id(call: SimToolCall) -> str:
    return f"{call.name}_{call.id}"


def wire_tool_call(call: SimToolCall, arguments: str | None = None) -> dict[str, Any]:
    arguments = call.arguments if arguments is None else arguments
    return {"id": call_id(call), "type": "function", "function": {"name": call.name, "arguments": arguments}}


def _text_index(call: SimCall) -> int:
    """The text block's index: 1 after a thinking block (models that think), else 0."""
    thinks = is_reasoning_model(call.model) if call.reasoning is None else call.reasoning
    return 1 if thinks else 0


def _words(text: str) -> list[str]:
    return [word if i == 0 else f" {word}" for i, word in enumerate(text.split())]


# -- request checks -------------------------------------------------------------------------------
def _tools(body: dict[str, Any]) -> list[SimTool]:
    raw = body.get("tools")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WireError(400, "invalid request: tools must be a list")
    tools = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise WireError(400, f"invalid request: tools[{i}].type must be 'function'")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise WireError(400, f"invalid request: tools[{i}].function is required")
        try:
            tools.append(check_tool(function.get("name"), function.get("parameters")))
        except ToolSchemaError as exc:
            raise WireError(400, f"invalid request: {exc}") from None
    if len({t.name for t in tools}) != len(tools):
        raise WireError(400, "invalid request: tool names must be unique")
    return tools


def _tool_choice(body: dict[str, Any], tools: list[SimTool]) -> str:
    raw = body.get("tool_choice")
    if raw is None:
        return "auto"
    if raw not in TOOL_CHOICES:
        raise WireError(400, f"invalid request: tool_choice must be one of REQUIRED, NONE, got {raw!r}")
    if raw == "REQUIRED" and not tools:
        raise WireError(400, "invalid request: tool_choice REQUIRED needs the tools parameter")
    return TOOL_CHOICES[raw]


def _response_format(body: dict[str, Any]) -> tuple[bool, dict[str, Any] | None]:
    """(json mode, json_schema) of ``response_format``."""
    fmt = body.get("response_format")
    if fmt is None:
        return False, None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in ("text", "json_object"):
        raise WireError(400, "invalid request: response_format.type must be 'text' or 'json_object'")
    schema = fmt.get("json_schema")
    if kind == "text":
        if schema is not None:
            raise WireError(400, "invalid request: json_schema must not be set when response_format is text")
        return False, None
    if schema is not None:
        try:
            check_schema(schema, "response_format.json_schema")
        except ToolSchemaError as exc:
            raise WireError(400, f"invalid request: {exc}") from None
    return True, schema


def _thinking(body: dict[str, Any]) -> tuple[bool | None, int | None]:
    thinking = body.get("thinking")
    if thinking is None:
        return None, None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled"):
        raise WireError(400, "invalid request: thinking.type must be 'enabled' or 'disabled'")
    budget = int_or_none(thinking.get("token_budget"), "thinking.token_budget")
    return kind == "enabled", budget


class _Conversation:
    """Walks ``messages``: the texts input tokens count, the last user turn, the media, and
    the tool-call ids tool turns may answer."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.prompt = ""
        self.media = MediaTokens()
        self.call_ids: set[str] = set()

    def add(self, i: int, message: Any) -> None:
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise WireError(400, f"invalid request: unknown message role {role!r}")
        content = message.get("content")
        if role == "user":
            self.prompt = self._user(i, content)
            self.texts.append(self.prompt)
        elif role == "assistant":
            self._assistant(i, message)
        elif role == "tool":
            self._tool(i, message)
        else:
            self.texts.append(text_of(content))

    def _user(self, i: int, content: Any) -> str:
        if isinstance(content, str):
            return content
        if not isinstance(content, list):
            raise WireError(400, f"invalid request: messages[{i}].content must be a string or a list")
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(str(part.get("text", "")))
            elif kind == "image_url":
                self._image(i, part.get("image_url"))
            else:
                raise WireError(400, f"invalid request: messages[{i}] content type {kind!r} is not supported")
        return "".join(texts)

    def _image(self, i: int, image: Any) -> None:
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str) or not url.startswith(IMAGE_URL_PREFIXES):
            raise WireError(
                400, f"invalid request: messages[{i}] image_url.url must be a web URL or data URI"
            )
        if url.startswith("data:") and ";base64," not in url:
            raise WireError(400, f"invalid request: messages[{i}] image data URI must be base64")
        self.media.add_image(image.get("detail"))

    def _assistant(self, i: int, message: dict[str, Any]) -> None:
        self.texts.append(text_of(message.get("content")) + str(message.get("tool_plan") or ""))
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list):
            raise WireError(400, f"invalid request: messages[{i}].tool_calls must be a list")
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not call.get("id") or not function.get("name"):
                raise WireError(
                    400, f"invalid request: messages[{i}].tool_calls need an id and a function name"
                )
            self.call_ids.add(str(call["id"]))
            self.texts.append(str(function.get("arguments") or ""))

    def _tool(self, i: int, message: dict[str, Any]) -> None:
        ref = message.get("tool_call_id")
        if ref not in self.call_ids:
            raise WireError(
                400,
                f"invalid request: messages[{i}].tool_call_id {ref!r} does not match any tool call "
                "of an earlier assistant message",
            )
        content = message.get("content")
        if isinstance(content, list):
            texts = []
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text":
                    texts.append(str(part.get("text", "")))
                elif kind == "document" and isinstance(part.get("document"), dict):
                    texts.append(str(part["document"].get("data", "")))
                else:
                    raise WireError(400, f"invalid request: messages[{i}] tool content type {kind!r}")
            self.texts.append("".join(texts))
        elif isinstance(content, str):
            self.texts.append(content)
        else:
            raise WireError(400, f"invalid request: messages[{i}].content must be a string or a list")


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
        conversation = _Conversation()
        for i, message in enumerate(messages):
            conversation.add(i, message)
        tools = _tools(body)
        json_mode, schema = _response_format(body)
        reasoning, budget = _thinking(body)
        return SimCall(
            api_style=self.api_style,
            model=model,
            prompt=conversation.prompt,
            input_texts=conversation.texts,
            max_tokens=int_or_none(body.get("max_tokens"), "max_tokens"),
            stream=bool(body.get("stream")),
            tools=tools,
            tool_choice=_tool_choice(body, tools),
            response_schema=schema,
            json_mode=json_mode,
            media=conversation.media,
            ends_with_user=messages[-1].get("role") == "user",
            reasoning=reasoning,
            thinking_budget=budget,
        )

    def completion(self, call: SimCall, reply: SimReply, request_id: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant"}
        if reply.tool_calls:
            message["tool_plan"] = tool_plan(reply)
            message["tool_calls"] = [wire_tool_call(c) for c in reply.tool_calls]
        else:
            content = [{"type": "thinking", "thinking": reply.reasoning_text}] if reply.reasoning_text else []
            message["content"] = [*content, {"type": "text", "text": reply.text}]
        return {
            "id": request_id,
            "finish_reason": _finish(reply),
            "message": message,
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
        frames: list[Frame] = [("message-start", start)]
        if reply.reasoning_text:
            frames.extend(_block(0, "thinking", _words(reply.reasoning_text)))
        if not reply.tool_calls:
            index = _text_index(call)
            frames.append(("content-start", _content_start(index, "text")))
        return frames

    def stream_delta(self, call: SimCall, text: str, request_id: str) -> Frame:
        return ("content-delta", _content_delta(_text_index(call), "text", text))

    def stream_tool_calls(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        if not reply.tool_calls:
            return []
        frames: list[Frame] = [
            ("tool-plan-delta", {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": word}}})
            for word in _words(tool_plan(reply))
        ]
        for index, tool_call in enumerate(reply.tool_calls):
            start = {"message": {"tool_calls": wire_tool_call(tool_call, "")}}
            frames.append(("tool-call-start", {"type": "tool-call-start", "index": index, "delta": start}))
            for piece in json_pieces(tool_call.arguments):
                delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
                frames.append(
                    ("tool-call-delta", {"type": "tool-call-delta", "index": index, "delta": delta})
                )
            frames.append(("tool-call-end", {"type": "tool-call-end", "index": index}))
        return frames

    def stream_close(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        end = {
            "type": "message-end",
            "delta": {"finish_reason": _finish(reply), "usage": cohere_usage(reply)},
        }
        frames: list[Frame] = []
        if not reply.tool_calls:
            index = _text_index(call)
            frames.append(("content-end", {"type": "content-end", "index": index}))
        return [*frames, ("message-end", end)]

    def error_body(self, status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        return {"message": message}


def _content_start(index: int, kind: str) -> dict[str, Any]:
    return {
        "type": "content-start",
        "index": index,
        "delta": {"message": {"content": {"type": kind, kind: ""}}},
    }


def _content_delta(index: int, kind: str, piece: str) -> dict[str, Any]:
    return {"type": "content-delta", "index": index, "delta": {"message": {"content": {kind: piece}}}}


def _block(index: int, kind: str, pieces: list[str]) -> list[Frame]:
    return [
        ("content-start", _content_start(index, kind)),
        *(("content-delta", _content_delta(index, kind, p)) for p in pieces),
        ("content-end", {"type": "content-end", "index": index}),
    ]
