"""Anthropic's Messages wire, request side: the body and its translation into the canonical
request (the ``Message`` answer, the stream's events and Anthropic's error shape:
gateway/api/anthropic_messages_output.py) — so the ``anthropic`` SDKs and Claude Code work
against OneVault unchanged, on any provider.

Shapes follow the ``anthropic`` SDK's ``MessageCreateParams``, ``Message``,
``RawMessageStreamEvent`` and ``ErrorResponse`` types. Every field is mapped onto
``ChatRequest`` or refused with a 400 naming it (``extra="forbid"``); what is accepted without a
canonical field is listed here with the reason:

- **Messages.** ``system`` (a string or text blocks; each block one system message) and
  ``role: "system"`` turns; ``user`` turns of ``text``, ``image`` (``base64`` or ``url``
  source), ``document`` (``base64`` PDF or ``text`` source; ``title`` is the file name) and
  ``tool_result`` blocks (each a canonical ``tool`` turn, in block order, with ``is_error``);
  ``assistant`` turns of ``text``, ``tool_use`` (a tool call whose arguments are the input as
  JSON), ``thinking`` (its text is the turn's ``reasoning``) and ``redacted_thinking``.
  Thinking blocks are accepted because clients must replay them: a signed ``thinking`` block and
  a ``redacted_thinking`` block are kept whole as the turn's ``thinking_blocks``
  (gateway/providers/thinking.py), which an Anthropic upstream gets back unmodified, first in the
  turn, so extended thinking goes on across tool calls; a block signed with OneVault's marker
  (``THINKING_SIGNATURE``: another provider's reasoning, see Answers) is reasoning text only.
  Server-tool blocks, Files API sources, citations and search results are refused.
- **cache_control** markers (on blocks, tools and the request) are accepted and not carried.
  They are a hint to Anthropic's prompt cache, not part of the conversation: the answer is the
  same with or without them, and Claude Code sends them on every request, so refusing them would
  shut out the biggest client of this door. The canonical model has no place for them, so an
  Anthropic upstream caches only what it caches without breakpoints (a cost, not a correctness,
  difference; the vault records the cache tokens the provider reports).
- **Options.** ``max_tokens`` (required), ``stop_sequences`` → ``stop``, ``temperature``,
  ``top_p``, ``top_k``, ``metadata.user_id`` → the end user (and ``user`` upstream),
  ``service_tier`` (``standard_only`` → ``default``); ``tools`` (custom tools: name,
  description, input_schema, strict; a server tool type is a 400 naming it); ``tool_choice``
  ``auto`` / ``any`` / ``tool`` / ``none`` → auto / required / function / none, with
  ``disable_parallel_tool_use`` → ``parallel_tool_calls: false``; ``output_config.format``
  (``json_schema``) → the response format and ``output_config.effort`` → the reasoning effort.
- **Thinking.** ``{"type": "enabled", "budget_tokens"}`` → ``thinking_budget`` plus the effort
  that budget falls in (``REASONING_EFFORTS`` by ``THINKING_BUDGETS``): budget providers get the
  budget, effort providers (OpenAI) the effort. ``adaptive`` (the model decides) → effort
  ``medium`` unless ``output_config.effort`` says otherwise; ``disabled`` → effort ``none``.
- **Headers.** ``anthropic-version`` and ``anthropic-beta`` ride in
  ``ChatRequest.provider_headers`` and reach the provider only when it is Anthropic; the
  client's version wins over the endpoint's, because what a request means depends on it (API
  version 2026-10-21, which the current SDKs send, removed ``temperature``, ``top_p``,
  ``top_k``). OneVault's extras ride in ``x-onevault-*`` headers (``metadata`` holds only
  ``user_id`` on this wire).

Answers: content blocks in order — the thinking blocks (an Anthropic answer's own, with
Anthropic's signature, and its ``redacted_thinking`` blocks; another provider's reasoning as one
``thinking`` block signed with OneVault's marker ``"onevault"``, which means nothing to Anthropic
and is never sent to it), ``text``, then each ``tool_use``; ``stop_reason`` end_turn |
max_tokens | tool_use | refusal (the canonical finish reason does not say which stop sequence
matched, so ``stop_sequence`` stays null); ``usage`` with ``input_tokens`` uncached, as
Anthropic counts it. Streams send Anthropic's event sequence;
the input usage in ``message_start`` is an estimate (the canonical stream reports usage at its
end), and ``message_delta`` carries the provider's final counts, which the SDK's accumulator
takes over. A streamed thinking block gets its ``signature_delta`` (Anthropic's signature, else
the marker) just before its ``content_block_stop``, as Anthropic streams it.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.api.fields import PRINTABLE
from gateway.api.openai_chat import MAX_TEXT, TOOL_NAME, Text
from gateway.errors import ApiError
from gateway.providers.thinking import MARKER_SIGNATURE
from gateway.providers.types import (
    THINKING_BUDGETS,
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

MAX_DATA = 30_000_000
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
THINKING_SIGNATURE = MARKER_SIGNATURE  # not Anthropic's signature: see the module docstring
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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CacheControl(_Strict):
    type: Literal["ephemeral"]
    ttl: Literal["5m", "1h"] | None = None


class _Block(_Strict):
    cache_control: CacheControl | None = None  # accepted, not carried (module docstring)


class TextBlockIn(_Block):
    type: Literal["text"]
    text: str = Field(max_length=MAX_TEXT)
    citations: list[Any] | None = Field(None, max_length=0)  # null / [] as SDKs replay them


class Base64Source(_Strict):
    type: Literal["base64"]
    media_type: Literal["image/jpeg", "image/png", "image/gif", "image/webp"]
    data: str = Field(min_length=1, max_length=MAX_DATA)


class UrlSource(_Strict):
    type: Literal["url"]
    url: str = Field(pattern=r"^https?://", max_length=30_000)


class ImageBlockIn(_Block):
    type: Literal["image"]
    source: Annotated[Base64Source | UrlSource, Field(discriminator="type")]


class PdfSource(_Strict):
    type: Literal["base64"]
    media_type: Literal["application/pdf"]
    data: str = Field(min_length=1, max_length=MAX_DATA)


class PlainTextSource(_Strict):
    type: Literal["text"]
    media_type: Literal["text/plain"]
    data: str = Field(max_length=MAX_TEXT)


class DocumentBlockIn(_Block):
    type: Literal["document"]
    source: Annotated[PdfSource | PlainTextSource, Field(discriminator="type")]
    title: str | None = Field(None, max_length=500)


class ToolUseBlockIn(_Block):
    type: Literal["tool_use"]
    id: str = Field(min_length=1, max_length=200)
    name: str = Field(pattern=TOOL_NAME)
    input: dict[str, Any]


ResultPartIn = Annotated[TextBlockIn | ImageBlockIn | DocumentBlockIn, Field(discriminator="type")]


class ToolResultBlockIn(_Block):
    type: Literal["tool_result"]
    tool_use_id: str = Field(min_length=1, max_length=200)
    content: Text | Annotated[list[ResultPartIn], Field(max_length=MAX_TEXT)] | None = None
    is_error: bool | None = None


class ThinkingBlockIn(_Strict):
    type: Literal["thinking"]
    thinking: str = Field(max_length=MAX_TEXT)
    signature: str = Field(max_length=MAX_DATA)


class RedactedThinkingBlockIn(_Strict):
    type: Literal["redacted_thinking"]
    data: str = Field(max_length=MAX_DATA)


BlockIn = Annotated[
    TextBlockIn
    | ImageBlockIn
    | DocumentBlockIn
    | ToolUseBlockIn
    | ToolResultBlockIn
    | ThinkingBlockIn
    | RedactedThinkingBlockIn,
    Field(discriminator="type"),
]
_ROLE_BLOCKS = {
    "user": frozenset({"text", "image", "document", "tool_result"}),
    "assistant": frozenset({"text", "tool_use", "thinking", "redacted_thinking"}),
    "system": frozenset({"text"}),
}


class MessageIn(_Strict):
    role: Literal["user", "assistant", "system"]
    content: Text | Annotated[list[BlockIn], Field(max_length=MAX_TEXT)]

    @model_validator(mode="after")
    def _blocks_fit_the_role(self) -> MessageIn:
        if isinstance(self.content, list):
            kinds = {str(b.type) for b in self.content}
            wrong = sorted(kinds - _ROLE_BLOCKS[self.role])
            if wrong:
                raise ValueError(f"{self.role} messages may not hold {', '.join(wrong)} blocks")
        return self


class ToolIn(_Strict):
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = Field(None, max_length=100_000)
    input_schema: dict[str, Any]
    strict: bool | None = None
    type: Literal["custom"] | None = None
    cache_control: CacheControl | None = None

    @model_validator(mode="before")
    @classmethod
    def _custom_only(cls, data: Any) -> Any:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind not in (None, "custom"):
            raise ValueError(
                f"server tool type {kind!r} runs at Anthropic and cannot be carried to every provider; "
                "only custom tools (name, description, input_schema) are accepted"
            )
        return data


class _Choice(_Strict):
    disable_parallel_tool_use: bool | None = None


class ChoiceAuto(_Choice):
    type: Literal["auto"]


class ChoiceAny(_Choice):
    type: Literal["any"]


class ChoiceTool(_Choice):
    type: Literal["tool"]
    name: str = Field(pattern=TOOL_NAME)


class ChoiceNone(_Strict):
    type: Literal["none"]


class ThinkingEnabled(_Strict):
    type: Literal["enabled"]
    budget_tokens: int = Field(ge=1024, le=1_000_000)
    display: Literal["summarized"] | None = None


class ThinkingAdaptive(_Strict):
    type: Literal["adaptive"]
    display: Literal["summarized"] | None = None


class ThinkingDisabled(_Strict):
    type: Literal["disabled"]


class JsonFormatIn(_Strict):
    type: Literal["json_schema"]
    schema_: dict[str, Any] = Field(alias="schema")


class OutputConfigIn(_Strict):
    effort: Literal["low", "medium", "high"] | None = None
    format: JsonFormatIn | None = None


class MetadataIn(_Strict):
    user_id: str | None = Field(None, max_length=256, pattern=PRINTABLE)


class MessagesBody(_Strict):
    """``POST /v1/messages`` (and, without ``max_tokens``, ``/v1/messages/count_tokens``)."""

    model: str = Field(min_length=1, max_length=200)
    max_tokens: int = Field(ge=1, le=1_000_000)
    messages: list[MessageIn] = Field(min_length=1, max_length=100_000)
    system: Text | Annotated[list[TextBlockIn], Field(max_length=MAX_TEXT)] | None = None
    stop_sequences: list[Annotated[str, Field(min_length=1, max_length=1000)]] | None = Field(
        None, max_length=16
    )
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    top_p: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    top_k: int | None = Field(None, ge=1, le=1000)
    tools: list[ToolIn] | None = Field(None, max_length=512)
    tool_choice: (
        Annotated[ChoiceAuto | ChoiceAny | ChoiceTool | ChoiceNone, Field(discriminator="type")] | None
    ) = None
    thinking: (
        Annotated[ThinkingEnabled | ThinkingAdaptive | ThinkingDisabled, Field(discriminator="type")] | None
    ) = None
    output_config: OutputConfigIn | None = None
    metadata: MetadataIn | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    cache_control: CacheControl | None = None  # accepted, not carried (module docstring)

    @model_validator(mode="after")
    def _consistent(self) -> MessagesBody:
        if isinstance(self.thinking, ThinkingEnabled) and self.thinking.budget_tokens >= self.max_tokens:
            raise ValueError("max_tokens must be greater than thinking.budget_tokens")
        return self


class CountTokensBody(MessagesBody):
    """``POST /v1/messages/count_tokens``: a Messages body without generation settings."""

    max_tokens: int = Field(1_000_001, ge=1, le=1_000_001)  # not part of this API; never sent

    @model_validator(mode="before")
    @classmethod
    def _no_generation(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences"):
                if name in data:
                    raise ValueError(f"{name} is not a count_tokens parameter")
        return data


# -- canonical request ------------------------------------------------------------------------------
def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, "invalid_request", message, param=param)


def _image(block: ImageBlockIn, where: str) -> ImagePart:
    source = block.source
    if isinstance(source, UrlSource):
        return ImagePart(source.url)
    url = f"data:{source.media_type};base64,{source.data}"
    try:
        parse_data_url(url)
    except ValueError as exc:
        raise _bad(f"{where}.source.data", f"{where}.source.data: {exc}.") from None
    return ImagePart(url)


def _document(block: DocumentBlockIn) -> FilePart:
    source = block.source
    if isinstance(source, PlainTextSource):
        data = base64.b64encode(source.data.encode()).decode()
        return FilePart(data=data, media_type="text/plain", filename=block.title)
    return FilePart(data=source.data, media_type="application/pdf", filename=block.title)


def _part(block: TextBlockIn | ImageBlockIn | DocumentBlockIn, where: str) -> ContentPart:
    if isinstance(block, TextBlockIn):
        return TextPart(block.text)
    if isinstance(block, ImageBlockIn):
        return _image(block, where)
    return _document(block)


def _result(block: ToolResultBlockIn, where: str) -> ChatMessage:
    content = block.content
    canonical: str | list[ContentPart]
    if content is None or isinstance(content, str):
        canonical = content or ""
    else:
        canonical = [_part(p, f"{where}.content[{k}]") for k, p in enumerate(content)]
    return ChatMessage("tool", canonical, tool_call_id=block.tool_use_id, is_error=bool(block.is_error))


def _user(blocks: list[Any], where: str) -> list[ChatMessage]:
    """A user turn's blocks in order: each tool result a ``tool`` turn, the rest user turns."""
    out: list[ChatMessage] = []
    parts: list[ContentPart] = []
    for j, block in enumerate(blocks):
        if isinstance(block, ToolResultBlockIn):
            if parts:
                out.append(ChatMessage("user", parts))
                parts = []
            out.append(_result(block, f"{where}[{j}]"))
        else:
            parts.append(_part(block, f"{where}[{j}]"))
    if parts:
        out.append(ChatMessage("user", parts))
    return out


def _assistant(blocks: list[Any]) -> ChatMessage:
    texts: list[ContentPart] = []
    calls: list[ToolCall] = []
    thinking: list[str] = []
    signed: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, TextBlockIn):
            texts.append(TextPart(block.text))
        elif isinstance(block, ToolUseBlockIn):
            calls.append(ToolCall(block.id, block.name, orjson.dumps(block.input).decode()))
        elif isinstance(block, ThinkingBlockIn):
            thinking.append(block.thinking)
            if block.signature and block.signature != THINKING_SIGNATURE:
                signed.append(block.model_dump())  # Anthropic's signed state (module docstring)
        elif isinstance(block, RedactedThinkingBlockIn):
            signed.append(block.model_dump())  # opaque to every provider but Anthropic
    content: str | list[ContentPart] | None = texts or (None if calls else "")
    if len(texts) == 1:
        content = texts[0].text  # type: ignore[union-attr]
    return ChatMessage(
        "assistant", content, tool_calls=calls, reasoning="".join(thinking) or None, thinking_blocks=signed
    )


def canonical_messages(body: MessagesBody) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    system = body.system
    if isinstance(system, str):
        out.append(ChatMessage("system", system))
    elif system:
        out.extend(ChatMessage("system", b.text) for b in system)
    for i, m in enumerate(body.messages):
        if isinstance(m.content, str):
            out.append(ChatMessage(m.role, m.content))
        elif m.role == "assistant":
            out.append(_assistant(m.content))
        elif m.role == "system":
            out.extend(ChatMessage("system", b.text) for b in m.content)  # type: ignore[union-attr]
        else:
            out.extend(_user(m.content, f"messages[{i}].content"))
    return out


def effort_for_budget(budget: int) -> str:
    """The reasoning effort a thinking budget falls in (the smallest whose budget covers it)."""
    for effort in ("low", "medium"):
        if budget <= THINKING_BUDGETS[effort]:
            return effort
    return "high"


def _reasoning(body: MessagesBody) -> tuple[str | None, int | None]:
    thinking = body.thinking
    effort = body.output_config.effort if body.output_config is not None else None
    if isinstance(thinking, ThinkingEnabled):
        return effort or effort_for_budget(thinking.budget_tokens), thinking.budget_tokens
    if isinstance(thinking, ThinkingAdaptive):
        return effort or "medium", None
    if isinstance(thinking, ThinkingDisabled):
        return "none", None
    return effort, None


def _tool_choice(body: MessagesBody, tools: list[Tool]) -> tuple[ToolChoice | None, bool | None]:
    choice = body.tool_choice
    if choice is None:
        return None, None
    parallel = False if getattr(choice, "disable_parallel_tool_use", None) else None
    if isinstance(choice, ChoiceNone):
        return ToolChoice("none"), None
    if not tools:
        raise _bad("tool_choice", "tool_choice may only be specified while providing tools.")
    if isinstance(choice, ChoiceTool):
        if choice.name not in {t.name for t in tools}:
            raise _bad(
                "tool_choice.name", f"tool_choice names {choice.name!r}, which is not among the tools."
            )
        return ToolChoice("function", choice.name), parallel
    return ToolChoice("required" if isinstance(choice, ChoiceAny) else "auto"), parallel


def provider_headers(headers: Any) -> dict[str, str] | None:
    """The client's ``anthropic-version`` / ``anthropic-beta`` (for an Anthropic upstream)."""
    found = {name: headers[name] for name in FORWARDED_HEADERS if headers.get(name)}
    return found or None


def to_canonical(body: MessagesBody, headers: Any) -> ChatRequest:
    tools = [Tool(t.name, t.description, t.input_schema, t.strict) for t in body.tools or ()]
    choice, parallel = _tool_choice(body, tools)
    effort, budget = _reasoning(body)
    fmt = body.output_config.format if body.output_config is not None else None
    user = body.metadata.user_id if body.metadata is not None else None
    return ChatRequest(
        model=body.model,
        messages=canonical_messages(body),
        max_tokens=body.max_tokens if not isinstance(body, CountTokensBody) else None,
        temperature=body.temperature,
        stream=body.stream,
        user=user,
        stop=body.stop_sequences or None,
        top_p=body.top_p,
        top_k=body.top_k,
        tools=tools,
        tool_choice=choice,
        parallel_tool_calls=parallel,
        response_format=ResponseFormat("json_schema", schema=fmt.schema_) if fmt is not None else None,
        reasoning_effort=effort,
        thinking_budget=budget,
        service_tier={"standard_only": "default"}.get(body.service_tier or "", body.service_tier),
        provider_headers=provider_headers(headers),
    )
