"""Anthropic Messages API (``POST {base}/v1/messages``, ``x-api-key``, ``anthropic-version``).

Shapes follow Anthropic's API reference (the ``anthropic`` SDK's ``MessageCreateParams``,
``Message`` and ``RawMessageStreamEvent`` types). Every option the capability table lets through
is mapped to Anthropic's own field; what Anthropic cannot take is a ``bad_request`` naming it.

- **Messages.** The API has no ``system`` role: system and developer turns are joined into the
  top-level ``system``. User content is a string or ``text`` / ``image`` / ``document`` blocks:
  an image by ``data:`` URL becomes a ``base64`` source, by http(s) URL a ``url`` source; a PDF
  file part a ``document`` with a ``base64`` source (a ``text/plain`` one a ``text`` source).
  Audio has no Anthropic block (the capability table refuses it first; here it is a 400). An
  assistant turn's text (or replayed refusal) comes first, then its tool calls as ``tool_use``
  blocks whose ``input`` is the parsed ``arguments`` (arguments that are not a JSON object are a
  400). A ``tool`` turn is a ``user`` turn holding a ``tool_result`` block; a tool turn without
  a ``tool_call_id`` is plain user text. Consecutive same-role turns are merged into one (the
  results of parallel calls must all be in the user turn right after the calls, ``tool_result``
  blocks first); two plain-string turns in a row stay as sent, which the API documents as the
  same ("consecutive user or assistant turns will be combined into a single turn"). Anthropic
  refuses ``tool_use`` / ``tool_result`` blocks in a request that defines no tools, so a history
  with tool calls but no ``tools`` declares the tools it used (an open object schema) with
  ``tool_choice: none``: the model may not call them, as the client asked. ``name`` has no field.
- **Options.** tools → ``{name, description, input_schema, strict}``; tool choice ``auto`` /
  ``required`` / a named function / ``none`` → ``{"type": "auto" | "any" | "tool" | "none"}``;
  ``parallel_tool_calls: false`` → ``disable_parallel_tool_use: true`` on the tool choice;
  ``stop`` → ``stop_sequences``; ``user`` → ``metadata.user_id``; ``service_tier`` ``auto`` /
  ``priority`` / ``scale`` → ``auto``, ``default`` → ``standard_only`` (``flex`` has no
  equivalent: a 400). ``max_tokens`` is mandatory on this API and defaults to 1024.
- **Thinking.** A reasoning effort or thinking budget (``ChatRequest.thinking_tokens``; effort
  ``none`` → no thinking) becomes ``thinking: {"type": "enabled", "budget_tokens"}``. Anthropic
  wants ``1024 <= budget_tokens < max_tokens`` (thinking counts towards ``max_tokens``): without
  an explicit ``max_tokens`` it defaults to the budget + 1024; an explicit ``max_tokens <= 1024``
  is a 400; an effort's budget above an explicit ``max_tokens`` is lowered to ``max_tokens - 1``
  (the client's limit wins over our default), an explicit ``thinking_budget`` that is too small
  or not below ``max_tokens`` is a 400. With thinking on, Anthropic allows only ``auto`` / ``none``
  tool choices (a forced call is a 400 here) and needs the *signed* thinking blocks of the last
  assistant turn when that turn called tools. Assistant turns carry the blocks Anthropic returned
  (``ChatMessage.thinking_blocks``, gateway/providers/thinking.py): with thinking on they are sent
  first in their turn, unmodified (marker-signed blocks a door made from another provider's
  reasoning never are); with thinking off they are left out (Anthropic refuses thinking blocks in
  a final assistant turn then, and ignores them elsewhere). A request continuing a tool-calling
  turn *without* that signed state (answered by another provider, or the client dropped it)
  cannot carry thinking: the capability check names the options as a forced drop
  (``capabilities.Gap.forced``), so the pipeline removes them and records them in
  ``dropped_params``; this adapter leaves ``thinking`` out of such a request too (``count_tokens``
  calls it without the pipeline).
- **Structured output** (``json_schema`` / ``json_object``) goes through a tool, as Anthropic's
  tool-use guide describes and LiteLLM does: a tool named after the format (``name``, else
  ``json_response``) whose ``input_schema`` is the schema (``{"type": "object"}`` for
  ``json_object``), forced with ``{"type": "tool", name}`` when the client gave no tools of its
  own (or ``tool_choice: none``) and thinking is off. The answer's call of that tool becomes the
  answer text (its input as JSON) with ``finish_reason: stop``; other text in that answer (a
  preamble) is not part of the JSON answer and is left out. Streams send the tool's
  ``input_json_delta`` pieces as text; text blocks of a structured stream are held until it is
  known whether the format tool answers.
- **Answers.** ``text`` blocks are the text, ``thinking`` blocks the reasoning; every
  ``thinking`` and ``redacted_thinking`` block is also kept whole, in order, as the answer's
  ``thinking_blocks`` (the signed state to send back), ``tool_use`` blocks the tool calls in order
  (``arguments`` = the input as JSON text). ``tool_use`` finishes as ``tool_calls``, ``refusal``
  as ``content_filter``. Anthropic's ``input_tokens`` counts only uncached prompt tokens: cache
  reads (``cached_input_tokens``) and cache writes (``cache_write_tokens``) are added back so
  ``input_tokens`` is the whole prompt; ``output_tokens_details.thinking_tokens``, where given,
  is ``reasoning_tokens`` (thinking is always inside ``output_tokens``).
- **Client headers and errors.** ``ChatRequest.provider_headers`` (the Messages door's
  ``anthropic-version`` / ``anthropic-beta``) are sent as given; a tool result's ``is_error`` is
  ``tool_result.is_error``. ``count_tokens`` asks ``/v1/messages/count_tokens`` for a prompt's
  input tokens (the Messages door's ``POST /v1/messages/count_tokens``).
- **Streams**: ``message_start`` (input usage), ``content_block_start`` (a ``tool_use`` block
  starts a call: id and name, numbered 0, 1, ... among the tool calls; a ``redacted_thinking``
  block is a chunk's ``thinking_blocks`` at once), ``content_block_delta`` (``text_delta``,
  ``input_json_delta`` argument pieces, ``thinking_delta`` as reasoning, ``signature_delta``
  joined to its block; ``citations_delta`` carries nothing for the client),
  ``content_block_stop`` (a thinking block, now signed, is a chunk's ``thinking_blocks``),
  ``message_delta`` (stop reason, cumulative usage), ``message_stop`` (terminal); an ``error``
  event mid-stream is raised after what came before it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar, Final

import orjson

from gateway.providers.adapter import SHAPE_ERRORS, HttpAdapter, HttpCall, StreamDecoder, describe_shape_error
from gateway.providers.base import DEFAULT_ANTHROPIC_VERSION, ProviderEndpoint
from gateway.providers.errors import bad_response, sanitise
from gateway.providers.http import UpstreamClient
from gateway.providers.sse import SseEvent
from gateway.providers.thinking import continues_unsigned_tool_turn, signed, thinking_text
from gateway.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FilePart,
    ImagePart,
    ProviderError,
    StreamChunk,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)

DEFAULT_MAX_TOKENS: Final = 1024
# What ``/v1/messages/count_tokens`` takes of a Messages body (sampling and limits are not counted).
COUNTED_FIELDS: Final = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking"})
MIN_THINKING_BUDGET: Final = 1024
DEFAULT_FORMAT_TOOL: Final = "json_response"
FORMAT_TOOL_DESCRIPTION: Final = (
    "Respond with your answer as this tool's input, which follows its JSON schema."
)
EMPTY_SCHEMA: Final = {"type": "object", "properties": {}}

_FINISH: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_ERROR_TYPES: Final = {
    "overloaded_error": "server_error",
    "api_error": "server_error",
    "rate_limit_error": "rate_limited",
    "timeout_error": "timeout",
    "authentication_error": "auth",
    "permission_error": "auth",
    "not_found_error": "not_found",
    "invalid_request_error": "bad_request",
    "request_too_large": "bad_request",
}
_TOOL_CHOICES: Final = {"auto": "auto", "required": "any", "function": "tool", "none": "none"}
_SERVICE_TIERS: Final = {
    "auto": "auto",
    "priority": "auto",
    "scale": "auto",
    "default": "standard_only",
    "standard_only": "standard_only",
}
_PART_NAMES: Final = {"audio": "input_audio", "file": "file", "image": "image_url"}


def anthropic_usage(block: dict[str, Any]) -> Usage:
    read = int(block.get("cache_read_input_tokens") or 0)
    written = int(block.get("cache_creation_input_tokens") or 0)
    details = block.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(block.get("input_tokens") or 0) + read + written,
        output_tokens=int(block.get("output_tokens") or 0),
        cached_input_tokens=read,
        cache_write_tokens=written,
        reasoning_tokens=int(details.get("thinking_tokens") or 0),
    )


def client_headers(request: ChatRequest) -> dict[str, str]:
    """The client's own ``anthropic-*`` headers (``anthropic-version``, ``anthropic-beta``), which
    the Messages door passes through; the client's version wins over the endpoint's default."""
    return {k: v for k, v in (request.provider_headers or {}).items() if k.startswith("anthropic-")}


def finish_reason(stop_reason: str | None) -> str | None:
    return None if stop_reason is None else _FINISH.get(stop_reason, stop_reason.lower())


def format_tool(request: ChatRequest) -> str | None:
    """The name of the tool that carries a structured answer (None: the request wants text)."""
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    return fmt.name or DEFAULT_FORMAT_TOOL


def _invalid(param: str, message: str, code: str = "invalid_request") -> ProviderError:
    return ProviderError("bad_request", f"anthropic: {message}", code=code, param=param)


def _unsupported(param: str, message: str) -> ProviderError:
    return _invalid(param, message, "unsupported_parameter")


# -- content blocks -----------------------------------------------------------------------------
def _image(part: ImagePart) -> dict[str, Any]:
    if part.is_data:
        try:
            media_type, data = part.inline()  # type: ignore[misc]
        except ValueError as exc:
            raise _invalid("image_url", str(exc)) from None
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if part.url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    raise _invalid("image_url", "an image must be an http(s) URL or a base64 data URL")


def _document(part: FilePart) -> dict[str, Any]:
    if part.data is None:
        raise _unsupported("file", "a file by id needs Anthropic's Files API; send the file's data instead")
    if part.media_type == "application/pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": part.data}
    elif part.media_type == "text/plain":
        try:
            text = base64.b64decode(part.data, validate=True).decode()
        except (binascii.Error, ValueError):
            raise _invalid("file", "the text file's data is not base64 UTF-8 text") from None
        source = {"type": "text", "media_type": "text/plain", "data": text}
    else:
        raise _unsupported("file", f"documents must be PDF or plain text, not {part.media_type}")
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.filename:
        block["title"] = part.filename
    return block


def _blocks(message: ChatMessage, *, media: bool) -> list[dict[str, Any]]:
    """The message's parts as content blocks (empty text parts are left out: the API refuses them)."""
    out: list[dict[str, Any]] = []
    for part in message.parts():
        if isinstance(part, TextPart):
            if part.text:
                out.append({"type": "text", "text": part.text})
        elif media and isinstance(part, ImagePart):
            out.append(_image(part))
        elif media and isinstance(part, FilePart):
            out.append(_document(part))
        else:
            name = _PART_NAMES.get(part.type, part.type)
            raise _unsupported(name, f"{name} content is not accepted in {message.role} messages")
    return out


def _tool_input(call: ToolCall) -> dict[str, Any]:
    """A replayed call's arguments as the JSON object ``tool_use.input`` must be."""
    try:
        value = orjson.loads(call.arguments.strip() or "{}")
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise _invalid(
            "messages",
            f"the arguments of tool call {call.id!r} ({call.name}) are not a JSON object, "
            "which Anthropic's tool_use input must be",
        )
    return value


def _assistant(message: ChatMessage, *, thinking: bool) -> str | list[dict[str, Any]]:
    """The turn's signed thinking blocks first (only with thinking on: Anthropic refuses them in a
    final assistant turn otherwise), then its text, then its tool calls."""
    content = message.content
    signed_blocks = signed(message.thinking_blocks) if thinking else []
    if not message.tool_calls:
        if not signed_blocks:
            if isinstance(content, str) and content:
                return content
            return _blocks(message, media=False) or message.refusal or ""
        blocks = _blocks(message, media=False)
        if not blocks and message.refusal:
            blocks = [{"type": "text", "text": message.refusal}]
        return [*signed_blocks, *blocks]
    blocks = _blocks(message, media=False)
    if not blocks and message.refusal:
        blocks = [{"type": "text", "text": message.refusal}]
    uses = [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": _tool_input(c)} for c in message.tool_calls
    ]
    return [*signed_blocks, *blocks, *uses]


def _tool_result(message: ChatMessage) -> list[dict[str, Any]]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if message.is_error:
        block["is_error"] = True
    content = message.content
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif content:
        block["content"] = _blocks(message, media=True)
    return [block]


def _turn(message: ChatMessage, *, thinking: bool) -> tuple[str, str | list[dict[str, Any]]]:
    if message.role == "assistant":
        return "assistant", _assistant(message, thinking=thinking)
    if message.role == "tool" and message.tool_call_id:
        return "user", _tool_result(message)
    content = message.content
    if content is None or isinstance(content, str):
        return "user", content or ""
    return "user", _blocks(message, media=True)


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []


def wire_messages(messages: list[ChatMessage], *, thinking: bool = False) -> list[dict[str, Any]]:
    """The conversation (instructions excluded) as Anthropic turns (module docstring); with
    ``thinking``, assistant turns lead with their signed thinking blocks."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.is_instruction:
            continue
        role, content = _turn(message, thinking=thinking)
        last = turns[-1] if turns else None
        if (
            last is not None
            and last["role"] == role
            and (isinstance(content, list) or isinstance(last["content"], list))
        ):
            merged = _as_blocks(last["content"]) + _as_blocks(content)
            # tool results must open the turn that follows the calls
            last["content"] = sorted(merged, key=lambda b: b["type"] != "tool_result")
        else:
            turns.append({"role": role, "content": content})
    return turns


def _system(messages: list[ChatMessage]) -> str | None:
    texts = []
    for message in messages:
        if message.is_instruction:
            _blocks(message, media=False)  # instructions are text only
            texts.append(message.text)
    return "\n\n".join(t for t in texts if t) or None


# -- options ------------------------------------------------------------------------------------
def _wire_tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name, "input_schema": tool.parameters or dict(EMPTY_SCHEMA)}
    if tool.description:
        out["description"] = tool.description
    if tool.strict:
        out["strict"] = True
    return out


def _format_tool(request: ChatRequest, name: str) -> dict[str, Any]:
    fmt = request.response_format
    assert fmt is not None
    if request.tool(name) is not None:
        raise _invalid("response_format", f"the response format's name {name!r} is also the name of a tool")
    schema = fmt.schema if fmt.type == "json_schema" and fmt.schema is not None else {"type": "object"}
    if schema.get("type", "object") != "object":
        raise _unsupported(
            "response_format", "structured output travels as a tool input, so its schema must be an object"
        )
    out: dict[str, Any] = {
        "name": name,
        "description": fmt.description or FORMAT_TOOL_DESCRIPTION,
        "input_schema": schema,
    }
    if fmt.strict:
        out["strict"] = True
    return out


def _history_tools(request: ChatRequest) -> list[dict[str, Any]]:
    """The tools a history used, declared so its tool blocks are accepted (module docstring)."""
    names = dict.fromkeys(c.name for m in request.messages for c in m.tool_calls)
    return [{"name": name, "input_schema": {"type": "object"}} for name in names]


def _max_tokens_and_thinking(request: ChatRequest) -> tuple[int, dict[str, Any] | None]:
    """``max_tokens`` and ``thinking`` (module docstring: how the two constrain each other)."""
    budget = None if request.reasoning_effort == "none" else request.thinking_tokens()
    if budget is None or continues_unsigned_tool_turn(request):  # the pipeline recorded this drop
        return (request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS), None
    if budget < MIN_THINKING_BUDGET:  # only an explicit budget can be this small
        raise _invalid(
            "thinking_budget",
            f"the thinking budget must be at least {MIN_THINKING_BUDGET} tokens, not {budget}",
        )
    limit = request.max_tokens
    if limit is None:
        return budget + DEFAULT_MAX_TOKENS, {"type": "enabled", "budget_tokens": budget}
    if limit <= MIN_THINKING_BUDGET:
        raise _invalid(
            "max_tokens",
            f"extended thinking needs max_tokens above {MIN_THINKING_BUDGET} (thinking counts towards it), "
            f"not {limit}",
        )
    if budget >= limit:
        if request.thinking_budget is not None:
            raise _invalid(
                "thinking_budget", f"the thinking budget ({budget}) must be below max_tokens ({limit})"
            )
        budget = limit - 1
    return limit, {"type": "enabled", "budget_tokens": budget}


def _tool_choice(
    request: ChatRequest, *, thinking: bool, answer_tool: str | None, declared_only: bool
) -> dict[str, Any] | None:
    choice = request.tool_choice
    out: dict[str, Any] | None
    if answer_tool and not thinking and (not request.tools or (choice is not None and choice.mode == "none")):
        out = {"type": "tool", "name": answer_tool}
    elif declared_only:
        return {"type": "none"}
    elif choice is None:
        out = None
    else:
        if thinking and choice.mode in ("required", "function"):
            raise _unsupported(
                "tool_choice",
                "with extended thinking the tool choice can only be auto or none, not a forced call",
            )
        out = {"type": _TOOL_CHOICES[choice.mode]}
        if choice.mode == "function":
            out["name"] = choice.name
    if request.parallel_tool_calls is False and (request.tools or answer_tool):
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def _service_tier(tier: str | None) -> str | None:
    if tier is None:
        return None
    if tier not in _SERVICE_TIERS:
        raise _invalid(
            "service_tier",
            f"service tier {tier!r} has no Anthropic equivalent (auto, priority, default)",
            "unsupported_value",
        )
    return _SERVICE_TIERS[tier]


def _options(request: ChatRequest) -> dict[str, Any]:
    """Every option the request sets, under Anthropic's name for it (unset ones are left out)."""
    max_tokens, thinking = _max_tokens_and_thinking(request)
    answer_tool = format_tool(request)
    tools = [_wire_tool(t) for t in request.tools]
    if answer_tool is not None:
        tools.append(_format_tool(request, answer_tool))
    declared_only = False
    if not tools:  # a history with tool calls needs its tools declared (module docstring)
        tools = _history_tools(request)
        declared_only = bool(tools)
    values: dict[str, Any] = {
        "max_tokens": max_tokens,
        "system": _system(request.messages),
        "tools": tools or None,
        "tool_choice": _tool_choice(
            request, thinking=thinking is not None, answer_tool=answer_tool, declared_only=declared_only
        ),
        "thinking": thinking,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "top_k": request.top_k,
        "stop_sequences": request.stop or None,
        "metadata": {"user_id": request.user} if request.user is not None else None,
        "service_tier": _service_tier(request.service_tier),
    }
    return {k: v for k, v in values.items() if v is not None}


class AnthropicAdapter(HttpAdapter):
    api_style: ClassVar[str] = "anthropic"

    def build(self, endpoint: ProviderEndpoint, request: ChatRequest, *, stream: bool) -> HttpCall:
        base = endpoint.base_url
        url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        options = _options(request)
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": options.pop("max_tokens"),
            "messages": wire_messages(request.messages, thinking="thinking" in options),
            **options,
        }
        if stream:
            body["stream"] = True
        headers = {
            "content-type": "application/json",
            "x-api-key": endpoint.api_key,
            "anthropic-version": endpoint.api_version or DEFAULT_ANTHROPIC_VERSION,
            **client_headers(request),
        }
        return HttpCall(url, headers, body)

    async def count_tokens(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest
    ) -> int:
        """``POST /v1/messages/count_tokens``: the prompt's input tokens as Anthropic counts them
        (the request's messages, system, tools, tool choice and thinking; nothing is generated)."""
        call = self.build(endpoint, request, stream=False)
        body = {k: v for k, v in call.body.items() if k in COUNTED_FIELDS}
        url = f"{call.url}/count_tokens"
        data, status = await self._post(client, endpoint, HttpCall(url, call.headers, body))
        try:
            return int(data["input_tokens"])
        except SHAPE_ERRORS as exc:
            raise bad_response(self.api_style, describe_shape_error(exc), status=status) from None

    def parse(self, data: Any, request: ChatRequest) -> ChatResponse:
        answer_tool = format_tool(request)
        texts: list[str] = []
        thinking: list[dict[str, Any]] = []
        calls: list[ToolCall] = []
        answer: str | None = None
        for block in data["content"]:
            kind = block.get("type")
            if kind == "text":
                texts.append(block["text"])
            elif kind in ("thinking", "redacted_thinking"):
                thinking.append(block)  # kept whole: Anthropic wants it back unmodified
            elif kind == "tool_use":
                arguments = orjson.dumps(block.get("input") or {}).decode()
                if block["name"] == answer_tool and answer is None:
                    answer = arguments
                else:
                    calls.append(ToolCall(block["id"], block["name"], arguments))
        finish = finish_reason(data.get("stop_reason"))
        if answer is not None and not calls and finish == "tool_calls":
            finish = "stop"
        return ChatResponse(
            text="".join(texts) if answer is None else answer,
            finish_reason=finish,
            usage=anthropic_usage(data["usage"]),
            model=data.get("model") or request.model,
            provider_request_id=data.get("id"),
            tool_calls=calls,
            reasoning=thinking_text(thinking) or None,
            thinking_blocks=thinking,
        )

    def decoder(self, request: ChatRequest) -> StreamDecoder:
        return AnthropicStreamDecoder(format_tool(request))


class AnthropicStreamDecoder(StreamDecoder):
    __slots__ = (
        "_answer_block",
        "_calls",
        "_done",
        "_format",
        "_held",
        "_stop_reason",
        "_thinking",
        "_usage",
    )

    def __init__(self, answer_tool: str | None = None) -> None:
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self._done = False
        self._format = answer_tool  # the structured answer's tool (None: a text answer)
        self._answer_block: int | None = None  # the content block index of that tool's call
        self._calls: dict[int, int] = {}  # content block index -> the call's 0, 1, ... position
        self._held: list[str] = []  # a structured stream's text, until the answer tool shows
        self._thinking: dict[int, dict[str, Any]] = {}  # open thinking blocks, filled by their deltas

    @property
    def complete(self) -> bool:
        return self._done

    def feed(self, event: SseEvent) -> list[StreamChunk]:
        if self._done:
            return []
        data = orjson.loads(event.data)
        kind = data.get("type") or event.event
        if kind == "content_block_delta":
            return self._delta(data)
        if kind == "content_block_start":
            return self._start(data)
        if kind == "message_start":
            self._usage.update(data["message"].get("usage") or {})
        elif kind == "message_delta":
            self._stop_reason = (data.get("delta") or {}).get("stop_reason") or self._stop_reason
            self._usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            return self._stop()
        elif kind == "content_block_stop":
            block = self._thinking.pop(int(data.get("index", -1)), None)
            return [StreamChunk(thinking_blocks=[block])] if block is not None else []
        elif kind == "error":
            error = data.get("error") or {}
            error_type = str(error.get("type") or "error")
            message = f"anthropic stream error {error_type}: {error.get('message') or ''}"
            raise ProviderError(_ERROR_TYPES.get(error_type, "server_error"), sanitise(message, None))
        return []  # ping

    def _start(self, data: dict[str, Any]) -> list[StreamChunk]:
        block = data["content_block"]
        kind = block.get("type")
        index = int(data["index"])
        if kind == "tool_use":
            initial = orjson.dumps(block["input"]).decode() if block.get("input") else ""
            if block.get("name") == self._format and self._answer_block is None:
                self._answer_block = index  # held text is now a preamble, not the JSON answer
                return [StreamChunk(delta=initial)] if initial else []
            position = self._calls.setdefault(index, len(self._calls))
            delta = ToolCallDelta(position, block.get("id"), block.get("name"), initial)
            return [*self._flush(), StreamChunk(tool_calls=[delta])]
        if kind == "text":
            return self._text(block.get("text") or "")
        if kind == "thinking":
            self._thinking[index] = {**block, "thinking": block.get("thinking") or ""}
            return [StreamChunk(reasoning=block["thinking"])] if block.get("thinking") else []
        if kind == "redacted_thinking":
            return [StreamChunk(thinking_blocks=[block])]  # whole at its start
        return []  # server-tool blocks carry nothing for the client

    def _delta(self, data: dict[str, Any]) -> list[StreamChunk]:
        delta = data["delta"]
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text(delta.get("text") or "")
        if kind == "thinking_delta":
            thinking = delta.get("thinking") or ""
            if int(data["index"]) in self._thinking:
                self._thinking[int(data["index"])]["thinking"] += thinking
            return [StreamChunk(reasoning=thinking)] if thinking else []
        if kind == "signature_delta":
            if int(data["index"]) in self._thinking:
                block = self._thinking[int(data["index"])]
                block["signature"] = (block.get("signature") or "") + (delta.get("signature") or "")
            return []
        if kind == "input_json_delta":
            piece = delta.get("partial_json") or ""
            index = int(data["index"])
            if not piece:
                return []
            if index == self._answer_block:
                return [StreamChunk(delta=piece)]
            if index in self._calls:
                return [StreamChunk(tool_calls=[ToolCallDelta(self._calls[index], arguments=piece)])]
        return []  # citations_delta

    def _text(self, text: str) -> list[StreamChunk]:
        if not text:
            return []
        if self._format is not None:
            self._held.append(text)
            return []
        return [StreamChunk(delta=text)]

    def _flush(self) -> list[StreamChunk]:
        """Held text: sent as the answer's text unless the answer tool answered instead."""
        held = "".join(self._held)
        self._held.clear()
        return [StreamChunk(delta=held)] if held and self._answer_block is None else []

    def _stop(self) -> list[StreamChunk]:
        self._done = True
        chunks = self._flush()
        finish = finish_reason(self._stop_reason)
        if self._answer_block is not None and not self._calls and finish == "tool_calls":
            finish = "stop"
        usage = anthropic_usage(self._usage) if self._usage else None
        return [*chunks, StreamChunk(finish_reason=finish, usage=usage)]
