"""Cohere Chat v2 (``POST {base}/v2/chat``, ``Authorization: Bearer``).

Shapes follow Cohere's v2 API reference (the ``cohere`` SDK's ``ChatMessageV2``, ``ToolV2``,
``ResponseFormatV2``, ``Thinking``, ``V2ChatResponse`` and ``V2ChatStreamResponse`` types):

- **Messages.** Cohere v2 has no ``developer`` role, so system and developer turns travel as
  ``system``. User content is a string or ``text`` / ``image_url`` parts (vision models).
  Assistant turns that called tools carry ``tool_calls`` (``{id, type: function, function: {name,
  arguments}}``) and their text as ``tool_plan``, as Cohere's tool-use guide replays them (a
  ``tool_plan`` is the text such a turn holds); other assistant turns carry ``content``. A tool
  result is ``{role: tool, tool_call_id, content}``: its text as a string (Cohere asks for "a JSON
  object string") or, given as parts, as ``text`` tool-content blocks. A ``tool`` turn without a
  ``tool_call_id`` answers no call Cohere knows of and goes as a user turn. Audio and file parts
  (Cohere takes documents as text, not PDFs) are refused by the capability table before an adapter
  is called; should one arrive anyway (a model outside the table), it is a 400 here, never
  dropped. ``name`` has no Cohere field and is not sent.
- **Options.** tools → ``tools`` (``strict_tools: true`` when any tool is strict); tool choice
  ``required`` / ``none`` → ``REQUIRED`` / ``NONE`` (``auto`` is Cohere's default, so omitted; a
  named tool cannot be expressed and is refused by the capability table); ``json_object`` →
  ``{"type": "json_object"}``, ``json_schema`` → ``{"type": "json_object", "json_schema": ...}``;
  reasoning → ``thinking: {"type": "enabled", "token_budget"}`` (effort ``none`` →
  ``{"type": "disabled"}``); ``top_p`` → ``p``, ``top_k`` → ``k``, ``stop`` →
  ``stop_sequences``; ``seed``, penalties, ``logprobs`` and ``max_tokens`` by their own names.
- **Answers.** ``text`` content items are the text and ``thinking`` items the reasoning. The
  ``tool_plan`` Cohere returns with tool calls (plain, or as ``tool-plan-delta`` events) is the
  text of that turn, as Claude's text block before a ``tool_use`` is: it is what Cohere's guide
  says to replay with the calls, and only as text does it survive an agent loop (the canonical
  message has no reasoning field, and an OpenAI client replays ``content`` but a gateway-added
  ``reasoning_content`` would be refused) to go back out as ``tool_plan``. Tool calls keep their
  order; ``TOOL_CALL`` finishes as ``tool_calls``. Cohere's logprobs are per text chunk (several
  token ids each); a chunk maps to one OpenAI-style entry whose logprob is the chunk's total
  (the sum of its tokens', i.e. the chunk's joint log probability).
- **Usage** comes from ``usage.billed_units`` (what Cohere charges for; ``usage.tokens`` also
  counts the prompt template Cohere adds) plus ``usage.cached_tokens``, which billed units
  exclude; it falls back to ``usage.tokens`` when no billed units are given. Cohere does not
  report reasoning tokens apart: they are inside the output tokens.
- **Streams** are SSE events whose JSON ``type`` is ``content-start`` / ``content-delta`` (text,
  or thinking), ``tool-plan-delta``, ``tool-call-start`` (id and name), ``tool-call-delta``
  (argument pieces), ``tool-call-end`` and ``message-end`` (finish reason and usage, terminal; an
  ``error`` there is a provider error). Each tool call's event ``index`` is mapped to 0, 1, ...
  in the order the calls start.

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
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ContentPart,
    EmbeddingRequest,
    EmbeddingResponse,
    ImagePart,
    ProviderError,
    StreamChunk,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)

_FINISH: Final = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
}
_TOOL_CHOICES: Final = {"required": "REQUIRED", "none": "NONE"}
_PART_NAMES: Final = {"audio": "input_audio", "file": "file", "image": "image_url"}


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


def cohere_logprobs(items: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Cohere's per-chunk logprobs in OpenAI's ``logprobs.content`` shape (module docstring)."""
    if not items:
        return None
    out = []
    for item in items:
        text = item.get("text") or ""
        out.append(
            {
                "token": text,
                "logprob": sum(float(x) for x in item.get("logprobs") or ()),
                "bytes": list(text.encode()),
                "top_logprobs": [],
            }
        )
    return out


# -- request --------------------------------------------------------------------------------------
def _unsupported_part(part: ContentPart, role: str) -> ProviderError:
    name = _PART_NAMES.get(part.type, part.type)
    return ProviderError(
        "bad_request",
        f"cohere does not accept {name} content in {role} messages",
        code="unsupported_parameter",
        param=name,
    )


def _text_parts(message: ChatMessage) -> list[dict[str, Any]]:
    out = []
    for part in message.parts():
        if not isinstance(part, TextPart):
            raise _unsupported_part(part, message.role)
        out.append({"type": "text", "text": part.text})
    return out


def _text_content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """A string stays a string; parts become Cohere ``text`` items (the only kind allowed here)."""
    content = message.content
    return content if isinstance(content, str) else _text_parts(message)


def _user_content(message: ChatMessage) -> str | list[dict[str, Any]]:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    out: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            out.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            image: dict[str, Any] = {"url": part.url}
            if part.detail is not None:
                image["detail"] = part.detail
            out.append({"type": "image_url", "image_url": image})
        else:
            raise _unsupported_part(part, "user")
    return out


def _assistant(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant"}
    text = message.text or (message.refusal or "")
    if message.tool_calls:
        _text_parts(message)  # only text can be replayed as a plan
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
        if text:
            out["tool_plan"] = text
        return out
    content = message.content
    out["content"] = _text_content(message) if content else text
    return out


def wire_message(message: ChatMessage) -> dict[str, Any]:
    """One canonical message as a Cohere v2 message."""
    if message.is_instruction:
        return {"role": "system", "content": _text_content(message) if message.content else ""}
    if message.role == "assistant":
        return _assistant(message)
    if message.role == "tool" and message.tool_call_id:
        content = message.content
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": content if isinstance(content, str) else _text_parts(message) if content else "",
        }
    return {"role": "user", "content": _user_content(message)}


def _tools(request: ChatRequest) -> list[dict[str, Any]]:
    tools = []
    for tool in request.tools:
        function: dict[str, Any] = {
            "name": tool.name,
            "parameters": tool.parameters or {"type": "object", "properties": {}},
        }
        if tool.description:
            function["description"] = tool.description
        tools.append({"type": "function", "function": function})
    return tools


def _response_format(request: ChatRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    out: dict[str, Any] = {"type": "json_object"}
    if fmt.type == "json_schema" and fmt.schema is not None:
        out["json_schema"] = fmt.schema
    return out


def _thinking(request: ChatRequest) -> dict[str, Any] | None:
    if request.reasoning_effort == "none":
        return {"type": "disabled"}
    budget = request.thinking_tokens()
    return None if budget is None else {"type": "enabled", "token_budget": budget}


def _options(request: ChatRequest) -> dict[str, Any]:
    """Every option the request sets, under Cohere's name for it (unset ones are left out)."""
    choice = request.tool_choice
    if choice is not None and choice.mode == "function":  # the capability table refuses this first
        raise ProviderError(
            "bad_request",
            "cohere can require a tool call but not name the tool",
            code="unsupported_parameter",
            param="tool_choice",
        )
    values: dict[str, Any] = {
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "p": request.top_p,
        "k": request.top_k,
        "stop_sequences": request.stop or None,
        "tools": _tools(request) or None,
        "strict_tools": True if any(t.strict for t in request.tools) else None,
        "tool_choice": _TOOL_CHOICES.get(choice.mode) if choice is not None else None,
        "response_format": _response_format(request),
        "thinking": _thinking(request),
        "seed": request.seed,
        "presence_penalty": request.presence_penalty,
        "frequency_penalty": request.frequency_penalty,
        "logprobs": True if request.logprobs else None,
    }
    return {k: v for k, v in values.items() if v is not None}


class CohereAdapter(HttpAdapter):
    api_style: ClassVar[str] = "cohere"
    bare_json_lines: ClassVar[bool] = True

    def build(self, endpoint: ProviderEndpoint, request: ChatRequest, *, stream: bool) -> HttpCall:
        base = endpoint.base_url
        url = f"{base}/chat" if base.endswith("/v2") else f"{base}/v2/chat"
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [wire_message(m) for m in request.messages],
            **_options(request),
        }
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
        message = data["message"]
        content = message.get("content") or ()
        text = "".join(part.get("text", "") for part in content if part.get("type", "text") == "text")
        thinking = "".join(part.get("thinking", "") for part in content if part.get("type") == "thinking")
        calls = [
            ToolCall(call["id"], call["function"]["name"], call["function"].get("arguments") or "{}")
            for call in message.get("tool_calls") or ()
        ]
        return ChatResponse(
            text=text + (message.get("tool_plan") or ""),
            finish_reason=finish_reason(data.get("finish_reason")),
            usage=cohere_usage(data.get("usage") or {}),
            model=data.get("model") or request.model,
            provider_request_id=data.get("id"),
            tool_calls=calls,
            reasoning=thinking or None,
            logprobs=cohere_logprobs(data.get("logprobs")),
        )

    def decoder(self, request: ChatRequest) -> StreamDecoder:
        return CohereStreamDecoder()


class CohereStreamDecoder(StreamDecoder):
    __slots__ = ("_calls", "_done")

    def __init__(self) -> None:
        self._done = False
        self._calls: dict[int, int] = {}  # the event's index -> the call's 0, 1, ... position

    @property
    def complete(self) -> bool:
        return self._done

    def _position(self, data: dict[str, Any]) -> int:
        return self._calls.setdefault(int(data.get("index") or 0), len(self._calls))

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        if self._done or event.data.strip() == "[DONE]":
            return []
        data = orjson.loads(event.data)
        kind = data.get("type") or event.event
        if kind in ("content-start", "content-delta"):
            return self._content(data)
        if kind == "tool-plan-delta":
            plan = data["delta"]["message"].get("tool_plan") or ""
            return [StreamChunk(delta=plan)] if plan else []
        if kind == "tool-call-start":
            call = data["delta"]["message"]["tool_calls"]
            function = call.get("function") or {}
            delta = ToolCallDelta(
                self._position(data), call.get("id"), function.get("name"), function.get("arguments") or ""
            )
            return [StreamChunk(tool_calls=[delta])]
        if kind == "tool-call-delta":
            function = data["delta"]["message"]["tool_calls"].get("function") or {}
            arguments = function.get("arguments") or ""
            if not arguments:
                return []
            return [StreamChunk(tool_calls=[ToolCallDelta(self._position(data), arguments=arguments)])]
        if kind == "message-end":
            return self._end(data.get("delta") or {})
        return []  # message-start, content-end, tool-call-end, citations, debug

    def _content(self, data: dict[str, Any]) -> list[StreamChunk]:
        content = data["delta"]["message"]["content"]
        text = content.get("text") or ""
        thinking = content.get("thinking") or ""
        logprobs = cohere_logprobs([data["logprobs"]]) if data.get("logprobs") else None
        if not (text or thinking or logprobs):
            return []
        return [StreamChunk(delta=text, reasoning=thinking, logprobs=logprobs)]

    def _end(self, delta: dict[str, Any]) -> list[StreamChunk]:
        self._done = True
        if delta.get("error"):
            raise ProviderError("server_error", f"cohere stream error: {delta['error']}")
        usage = delta.get("usage")
        return [
            StreamChunk(
                finish_reason=finish_reason(delta.get("finish_reason")),
                usage=cohere_usage(usage) if usage else None,
            )
        ]
