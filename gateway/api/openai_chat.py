"""OpenAI's Chat Completions wire: the request body, its translation into the canonical request,
and the response and stream-chunk shapes built from the pipeline's outcome.

Every field of the Chat Completions API is either mapped onto ``ChatRequest`` or refused with a
400 naming it (``extra="forbid"``): a field OneVault does not carry must never be ignored. The
legacy ``functions`` / ``function_call`` / ``role: "function"`` shapes become tools (and the
answer comes back in the legacy shape), as OpenAI still accepts them.

Reasoning, as LiteLLM spells it: an answer's assistant message carries ``reasoning_content``
(the text) and, when Anthropic answered with extended thinking, ``thinking_blocks`` — its signed
``thinking`` / ``redacted_thinking`` blocks exactly as Anthropic returned them
(gateway/providers/thinking.py). A stream's deltas carry ``reasoning_content`` pieces and each
signed block whole in ``thinking_blocks`` once it is complete. Replayed assistant messages may
carry both back; the blocks are what lets an Anthropic upstream keep thinking on across a tool
call (without them that turn is served without thinking, recorded in ``dropped_params``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.fields import PRINTABLE
from gateway.errors import ApiError
from gateway.providers.thinking import signed, thinking_text
from gateway.providers.types import (
    AudioPart,
    ChatMessage,
    ChatRequest,
    ContentPart,
    FilePart,
    ImagePart,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    parse_data_url,
)

MAX_TEXT = 2_000_000
# A bound on each branch of a union, so pydantic checks it in its core (a bound on the union
# itself runs a Python validator per field, on every message of every request).
Text = Annotated[str, Field(max_length=MAX_TEXT)]
TOOL_NAME = r"^[A-Za-z0-9_.\-]{1,64}$"
# OneVault's own extras in ``metadata`` (gateway/api/chat.py); the rest is forwarded.
ONEVAULT_METADATA = frozenset(
    {"type", "priority", "max_cost", "provider", "team", "project", "cost_center", "cache", "cache_ttl"}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPartIn(_Strict):
    type: Literal["text"]
    text: str = Field(max_length=MAX_TEXT)


class ImageUrlIn(_Strict):
    url: str = Field(min_length=1, max_length=30_000_000)
    detail: Literal["auto", "low", "high"] | None = None


class ImagePartIn(_Strict):
    type: Literal["image_url"]
    image_url: ImageUrlIn


class InputAudioIn(_Strict):
    data: str = Field(min_length=1, max_length=30_000_000)
    format: Literal["wav", "mp3", "flac", "ogg", "webm", "m4a", "pcm16"]


class AudioPartIn(_Strict):
    type: Literal["input_audio"]
    input_audio: InputAudioIn


class FileIn(_Strict):
    file_data: str | None = Field(None, max_length=30_000_000)
    file_id: str | None = Field(None, max_length=200)
    filename: str | None = Field(None, max_length=255)

    @model_validator(mode="after")
    def _one_source(self) -> FileIn:
        if (self.file_data is None) == (self.file_id is None):
            raise ValueError("give exactly one of file_data or file_id")
        return self


class FilePartIn(_Strict):
    type: Literal["file"]
    file: FileIn


class RefusalPartIn(_Strict):
    type: Literal["refusal"]
    refusal: str = Field(max_length=MAX_TEXT)


PartIn = Annotated[
    TextPartIn | ImagePartIn | AudioPartIn | FilePartIn | RefusalPartIn, Field(discriminator="type")
]


class FunctionCallIn(_Strict):
    name: str = Field(pattern=TOOL_NAME)
    arguments: str = Field(max_length=MAX_TEXT)


class ToolCallIn(_Strict):
    id: str = Field(min_length=1, max_length=200)
    type: Literal["function"] = "function"
    function: FunctionCallIn


class ThinkingBlockIn(_Strict):
    """A block this door returned in ``thinking_blocks``, replayed as it was (LiteLLM's shape; a
    block without a signature, or with OneVault's marker, is reasoning text, not signed state)."""

    type: Literal["thinking", "redacted_thinking"]
    thinking: str | None = Field(None, max_length=MAX_TEXT)
    signature: str | None = Field(None, max_length=30_000_000)
    data: str | None = Field(None, max_length=30_000_000)
    cache_control: dict[str, Any] | None = None  # LiteLLM's; a prompt-cache hint, not carried

    def block(self) -> dict[str, Any]:
        if self.type == "thinking":
            return {"type": "thinking", "thinking": self.thinking or "", "signature": self.signature}
        return {"type": "redacted_thinking", "data": self.data}


class MessageIn(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Text | Annotated[list[PartIn], Field(max_length=MAX_TEXT)] | None = None
    name: str | None = Field(None, max_length=256, pattern=PRINTABLE)
    tool_calls: list[ToolCallIn] | None = Field(None, max_length=128)
    tool_call_id: str | None = Field(None, min_length=1, max_length=200)
    function_call: FunctionCallIn | None = None
    refusal: str | None = Field(None, max_length=MAX_TEXT)
    reasoning_content: str | None = Field(None, max_length=MAX_TEXT)  # what OneVault returned, replayed
    thinking_blocks: list[ThinkingBlockIn] | None = Field(None, max_length=1024)  # likewise (docstring)

    @model_validator(mode="after")
    def _shape(self) -> MessageIn:
        role = self.role
        carried = (
            self.tool_calls
            or self.function_call
            or self.refusal is not None
            or self.reasoning_content
            or self.thinking_blocks
        )
        if role != "assistant" and carried:
            raise ValueError(
                f"only assistant messages carry tool_calls, function_call, refusal or reasoning ({role})"
            )
        if role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if role != "tool" and self.tool_call_id is not None:
            raise ValueError("only tool messages carry tool_call_id")
        if role == "function" and not self.name:
            raise ValueError("a function message needs the function's name")
        if role == "assistant":
            if self.content is None and not (self.tool_calls or self.function_call or self.refusal):
                raise ValueError("an assistant message needs content, tool_calls or refusal")
        elif self.content is None:
            raise ValueError(f"a {role} message needs content")
        if isinstance(self.content, list):
            media = {str(p.type) for p in self.content} - {"text"}
            allowed = {"refusal"} if role == "assistant" else {"image_url", "input_audio", "file"}
            if role in ("system", "developer", "tool", "function"):
                allowed = set()
            if media - allowed:
                raise ValueError(f"{role} content may not hold {', '.join(sorted(media - allowed))} parts")
        return self


class FunctionDefIn(_Strict):
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = Field(None, max_length=100_000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolIn(_Strict):
    type: Literal["function"]
    function: FunctionDefIn


class NamedFunction(_Strict):
    name: str = Field(pattern=TOOL_NAME)


class ToolChoiceIn(_Strict):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaIn(_Strict):
    name: str = Field(pattern=TOOL_NAME)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None
    description: str | None = Field(None, max_length=100_000)


class ResponseFormatIn(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaIn | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormatIn:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is given exactly when type is 'json_schema'")
        return self


class StreamOptions(_Strict):
    include_usage: bool = False
    include_obfuscation: bool | None = None  # OpenAI's padding option: nothing to pad here


class ChatCompletionBody(_Strict):
    """``POST /v1/chat/completions``; OneVault extras ride in ``metadata`` or ``x-onevault-*``."""

    model: str = Field(min_length=1, max_length=200)
    messages: list[MessageIn] = Field(min_length=1, max_length=4096)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=1_000_000)
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    top_k: int | None = Field(None, ge=1, le=1000)  # not OpenAI's; self-hosted, Anthropic, Gemini, Cohere
    stop: str | Annotated[list[str], Field(max_length=16)] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=256, pattern=PRINTABLE)
    metadata: dict[str, str] | None = Field(None, max_length=32)
    n: int | None = Field(None, ge=1, le=1)
    tools: list[ToolIn] | None = Field(None, max_length=512)
    tool_choice: Literal["auto", "none", "required"] | ToolChoiceIn | None = None
    parallel_tool_calls: bool | None = None
    functions: list[FunctionDefIn] | None = Field(None, max_length=128)
    function_call: Literal["auto", "none"] | NamedFunction | None = None
    response_format: ResponseFormatIn | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2, allow_inf_nan=False)
    frequency_penalty: float | None = Field(None, ge=-2, le=2, allow_inf_nan=False)
    logit_bias: dict[str, int] | None = Field(None, max_length=1024)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    service_tier: Literal["auto", "default", "flex", "priority", "scale"] | None = None
    store: bool | None = None  # OpenAI-side storage, as the client asks (OneVault records regardless)
    modalities: list[Literal["text"]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionBody:
        if self.tools and self.functions:
            raise ValueError("give tools or the legacy functions, not both")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        return self

    @property
    def legacy_functions(self) -> bool:
        return bool(self.functions) or self.function_call is not None


def _part(part: PartIn, where: str) -> ContentPart:
    if isinstance(part, TextPartIn):
        return TextPart(part.text)
    if isinstance(part, RefusalPartIn):
        return TextPart(part.refusal)
    if isinstance(part, ImagePartIn):
        url = part.image_url.url
        if url.startswith("data:"):
            try:
                parse_data_url(url)
            except ValueError as exc:
                raise ApiError(
                    400, "invalid_image_url", f"{where}.image_url.url: {exc}.", param=where
                ) from None
        elif not url.startswith(("http://", "https://")):
            raise ApiError(
                400,
                "invalid_image_url",
                f"{where}.image_url.url must be an http(s) or data: URL.",
                param=where,
            )
        return ImagePart(url, part.image_url.detail)
    if isinstance(part, AudioPartIn):
        return AudioPart(part.input_audio.data, part.input_audio.format)
    file = part.file
    if file.file_data is not None:
        media_type, data = "application/pdf", file.file_data
        if data.startswith("data:"):
            try:
                media_type, data = parse_data_url(data)
            except ValueError as exc:
                raise ApiError(400, "invalid_file", f"{where}.file.file_data: {exc}.", param=where) from None
        return FilePart(data=data, media_type=media_type, filename=file.filename)
    return FilePart(file_id=file.file_id, filename=file.filename)


def _content(message: MessageIn, index: int) -> str | list[ContentPart] | None:
    content = message.content
    if content is None or isinstance(content, str):
        return content
    return [_part(p, f"messages[{index}].content[{j}]") for j, p in enumerate(content)]


def legacy_call_id(n: int) -> str:
    return f"call_fn_{n}"


def canonical_messages(messages: list[MessageIn]) -> list[ChatMessage]:
    """Chat Completions messages as canonical ones (also the native API's ``messages``)."""
    out: list[ChatMessage] = []
    legacy_calls = 0  # role "function" answers the latest legacy function_call
    for i, m in enumerate(messages):
        calls = [ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or ()]
        if m.function_call is not None:
            legacy_calls += 1
            calls.append(
                ToolCall(legacy_call_id(legacy_calls), m.function_call.name, m.function_call.arguments)
            )
        if m.role == "function":
            out.append(ChatMessage("tool", _content(m, i), m.name, tool_call_id=legacy_call_id(legacy_calls)))
            continue
        given = [b.block() for b in m.thinking_blocks] if m.thinking_blocks else []
        out.append(
            ChatMessage(
                m.role,
                _content(m, i),
                m.name,
                tool_calls=calls,
                tool_call_id=m.tool_call_id,
                refusal=m.refusal,
                reasoning=m.reasoning_content or (thinking_text(given) if given else None) or None,
                thinking_blocks=signed(given) if given else [],
            )
        )
    return out


def _tool_choice(body: ChatCompletionBody) -> ToolChoice | None:
    choice: Any = body.tool_choice if body.tool_choice is not None else body.function_call
    if choice is None:
        return None
    if isinstance(choice, str):
        return ToolChoice(choice)  # type: ignore[arg-type]
    name = choice.function.name if isinstance(choice, ToolChoiceIn) else choice.name
    return ToolChoice("function", name)


def to_canonical(body: ChatCompletionBody, metadata: dict[str, str] | None) -> ChatRequest:
    """The canonical request for a Chat Completions body (``metadata``: what is forwarded)."""
    defs = [t.function for t in body.tools or ()] or list(body.functions or ())
    tools = [Tool(d.name, d.description, d.parameters, d.strict) for d in defs]
    choice = _tool_choice(body)
    names = {t.name for t in tools}
    if choice is not None and choice.mode == "function" and choice.name not in names:
        raise ApiError(
            400,
            "invalid_tool_choice",
            f"tool_choice names {choice.name!r}, which is not among the request's tools.",
            param="tool_choice",
        )
    if choice is not None and choice.mode in ("required", "function") and not tools:
        raise ApiError(400, "invalid_tool_choice", "tool_choice requires tools.", param="tool_choice")
    fmt = body.response_format
    response_format = None
    if fmt is not None:
        js = fmt.json_schema
        response_format = ResponseFormat(
            fmt.type,
            js.name if js else None,
            js.schema_ if js else None,
            js.strict if js else None,
            js.description if js else None,
        )
    return ChatRequest(
        model=body.model,
        messages=canonical_messages(body.messages),
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        stream=body.stream,
        user=body.user,
        stop=[body.stop] if isinstance(body.stop, str) else body.stop,
        top_p=body.top_p,
        top_k=body.top_k,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=response_format,
        reasoning_effort=body.reasoning_effort,
        seed=body.seed,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        logit_bias={k: float(v) for k, v in body.logit_bias.items()} if body.logit_bias else None,
        logprobs=body.logprobs,
        top_logprobs=body.top_logprobs,
        n=body.n,
        service_tier=body.service_tier,
        metadata=metadata or None,
        store=body.store,
    )


# -- responses ------------------------------------------------------------------------------------
def tool_calls_json(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in calls
    ]


def message_json(
    text: str,
    tool_calls: list[ToolCall],
    refusal: str | None,
    reasoning: str | None,
    *,
    legacy: bool,
    thinking_blocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text if (text or not (tool_calls or refusal)) else None,
        "refusal": refusal,
    }
    if tool_calls and legacy:
        first = tool_calls[0]
        message["function_call"] = {"name": first.name, "arguments": first.arguments}
    elif tool_calls:
        message["tool_calls"] = tool_calls_json(tool_calls)
    if reasoning:
        message["reasoning_content"] = reasoning  # the field reasoning-aware clients read
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks  # Anthropic's signed state (module docstring)
    return message


def finish_reason_for(finish: str | None, *, legacy: bool) -> str:
    finish = finish or "stop"
    return "function_call" if legacy and finish == "tool_calls" else finish


def delta_json(chunk: Any, *, legacy: bool) -> dict[str, Any]:
    """The ``delta`` of a chat.completion.chunk for one canonical ``StreamChunk``."""
    delta: dict[str, Any] = {}
    if chunk.delta:
        delta["content"] = chunk.delta
    if chunk.reasoning:
        delta["reasoning_content"] = chunk.reasoning
    if chunk.thinking_blocks:
        delta["thinking_blocks"] = chunk.thinking_blocks
    if chunk.refusal:
        delta["refusal"] = chunk.refusal
    if chunk.tool_calls:
        if legacy:
            first = [d for d in chunk.tool_calls if d.index == 0]
            if first:
                call: dict[str, Any] = {"arguments": first[0].arguments}
                if first[0].name:
                    call["name"] = first[0].name
                delta["function_call"] = call
        else:
            delta["tool_calls"] = [_tool_delta(d) for d in chunk.tool_calls]
    return delta


def _tool_delta(d: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"index": d.index}
    if d.id:
        out["id"] = d.id
        out["type"] = "function"
    function: dict[str, Any] = {"arguments": d.arguments}
    if d.name:
        function["name"] = d.name
    out["function"] = function
    return out
