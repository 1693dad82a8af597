"""OpenAI's Responses API wire, request side: the body and its translation into the canonical
request (the response object and stream events: gateway/api/openai_responses_output.py).

Codex CLI and the OpenAI Agents SDK speak only this API, so it must be faithful: every field
of ``POST /v1/responses`` is mapped onto ``ChatRequest`` or refused with a 400 naming it
(``extra="forbid"``, and ``unsupported_parameter`` for what parses but cannot be carried, such as
hosted tools). A few fields are accepted and deliberately not forwarded because they cannot
change the answer: ``prompt_cache_key`` (a routing hint for OpenAI's prompt cache),
``client_metadata`` (the client's own telemetry; Codex sends it), ``store`` (OneVault's
retention decides what is kept, and ``previous_response_id`` reads from it), ``stream_options``
and ``text.verbosity: "medium"`` (the default).

The Responses item model is flatter than the canonical (Chat) one: assistant ``message``,
``function_call`` and ``reasoning`` items of one turn become one assistant ``ChatMessage`` with
``tool_calls`` and ``reasoning``; ``function_call_output`` items become ``tool`` messages.
A reasoning item's ``encrypted_content`` is, as at OpenAI, returned only when ``include`` asks
for ``reasoning.encrypted_content`` (Codex does, with ``store: false``): it carries Anthropic's
signed thinking blocks of that answer in OneVault's own opaque format (null when the answer has
none), and an input reasoning item's ``encrypted_content`` in that format is taken back as the
turn's ``thinking_blocks`` (gateway/providers/thinking.py), so extended thinking on an Anthropic
model goes on across tool calls. Encrypted content in any other format (OpenAI's own) is
ignored: no provider behind OneVault can read it. With ``previous_response_id`` the stored
answer's blocks come back by themselves.
``namespace`` tools (Codex groups its sub-agent tools so) are flattened to
``<namespace>__<name>`` functions for the provider and split back in the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from gateway.api.fields import PRINTABLE
from gateway.api.openai_chat import MAX_TEXT, TOOL_NAME, Text
from gateway.errors import ApiError
from gateway.providers.thinking import decode_blocks
from gateway.providers.types import (
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

NAMESPACE_SEPARATOR = "__"
# ``include`` values this door honours: the encrypted content of reasoning items (Anthropic's signed
# thinking, module docstring), and logprobs on output_text.
INCLUDABLE = frozenset({"reasoning.encrypted_content", "message.output_text.logprobs"})
OPENAI_INCLUDABLE = INCLUDABLE | {
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- input content parts --------------------------------------------------------------------------
class InputTextIn(_Strict):
    type: Literal["input_text"]
    text: str = Field(max_length=MAX_TEXT)


class InputImageIn(_Strict):
    type: Literal["input_image"]
    detail: Literal["auto", "low", "high"] = "auto"
    image_url: str | None = Field(None, min_length=1, max_length=30_000_000)
    file_id: str | None = Field(None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_source(self) -> InputImageIn:
        if (self.image_url is None) == (self.file_id is None):
            raise ValueError("give exactly one of image_url or file_id")
        return self


class InputFileIn(_Strict):
    type: Literal["input_file"]
    file_data: str | None = Field(None, min_length=1, max_length=30_000_000)
    file_id: str | None = Field(None, min_length=1, max_length=200)
    filename: str | None = Field(None, max_length=255)

    @model_validator(mode="after")
    def _one_source(self) -> InputFileIn:
        if (self.file_data is None) == (self.file_id is None):
            raise ValueError("give exactly one of file_data or file_id (file_url is not supported)")
        return self


class OutputTextIn(_Strict):
    type: Literal["output_text"]
    text: str = Field(max_length=MAX_TEXT)
    annotations: list[dict[str, Any]] = Field(default_factory=list, max_length=0)
    logprobs: list[dict[str, Any]] | None = None  # what this door returned, replayed


class RefusalIn(_Strict):
    type: Literal["refusal"]
    refusal: str = Field(max_length=MAX_TEXT)


InputPartIn = Annotated[InputTextIn | InputImageIn | InputFileIn, Field(discriminator="type")]
PartIn = Annotated[
    InputTextIn | InputImageIn | InputFileIn | OutputTextIn | RefusalIn, Field(discriminator="type")
]


# -- input items ----------------------------------------------------------------------------------
class MessageItemIn(_Strict):
    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: Text | Annotated[list[PartIn], Field(max_length=MAX_TEXT)]
    id: str | None = Field(None, max_length=200)
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    phase: Literal["commentary", "final_answer"] | None = None  # Codex's own label for a turn's text

    @model_validator(mode="after")
    def _parts_fit_role(self) -> MessageItemIn:
        if isinstance(self.content, list):
            kinds = {str(p.type) for p in self.content}
            allowed = {"output_text", "refusal"} if self.role == "assistant" else {"input_text"}
            if self.role == "user":
                allowed |= {"input_image", "input_file"}
            if kinds - allowed:
                raise ValueError(
                    f"{self.role} content may not hold {', '.join(sorted(kinds - allowed))} parts"
                )
        return self


class FunctionCallItemIn(_Strict):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1, max_length=200)
    name: str = Field(pattern=TOOL_NAME)
    arguments: str = Field(max_length=MAX_TEXT)
    namespace: str | None = Field(None, pattern=TOOL_NAME)
    id: str | None = Field(None, max_length=200)
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class FunctionCallOutputItemIn(_Strict):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1, max_length=200)
    output: Text | Annotated[list[InputPartIn], Field(max_length=MAX_TEXT)]
    id: str | None = Field(None, max_length=200)
    status: Literal["in_progress", "completed", "incomplete"] | None = None


class SummaryTextIn(_Strict):
    type: Literal["summary_text"]
    text: str = Field(max_length=MAX_TEXT)


class ReasoningTextIn(_Strict):
    type: Literal["reasoning_text"]
    text: str = Field(max_length=MAX_TEXT)


class ReasoningItemIn(_Strict):
    type: Literal["reasoning"]
    id: str | None = Field(None, max_length=200)
    summary: list[SummaryTextIn] = Field(default_factory=list, max_length=256)
    content: list[ReasoningTextIn] | None = Field(None, max_length=256)
    encrypted_content: str | None = Field(None, max_length=MAX_TEXT)
    status: Literal["in_progress", "completed", "incomplete"] | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.summary) or "\n\n".join(c.text for c in self.content or ())


def _item_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("type", "message")
    return getattr(value, "type", None)


ItemIn = Annotated[
    Annotated[MessageItemIn, Tag("message")]
    | Annotated[FunctionCallItemIn, Tag("function_call")]
    | Annotated[FunctionCallOutputItemIn, Tag("function_call_output")]
    | Annotated[ReasoningItemIn, Tag("reasoning")],
    Discriminator(_item_tag),
]


# -- tools, formats, reasoning --------------------------------------------------------------------
class FunctionToolIn(_Strict):
    type: Literal["function"]
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = Field(None, max_length=100_000)
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NamespaceToolIn(_Strict):
    type: Literal["namespace"]
    name: str = Field(pattern=TOOL_NAME)
    description: str | None = Field(None, max_length=100_000)
    tools: list[FunctionToolIn] = Field(min_length=1, max_length=512)


class FunctionChoiceIn(_Strict):
    type: Literal["function"]
    name: str = Field(pattern=TOOL_NAME)


class TextFormatIn(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = Field(None, pattern=TOOL_NAME)
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None
    description: str | None = Field(None, max_length=100_000)

    @model_validator(mode="after")
    def _schema_given(self) -> TextFormatIn:
        given = self.name is not None or self.schema_ is not None
        if self.type == "json_schema" and (self.name is None or self.schema_ is None):
            raise ValueError("a json_schema format needs name and schema")
        if self.type != "json_schema" and (given or self.strict is not None):
            raise ValueError(f"name, schema and strict belong to a json_schema format, not {self.type}")
        return self


class TextIn(_Strict):
    format: TextFormatIn | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningIn(_Strict):
    effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None  # the older name


class StreamOptionsIn(_Strict):
    include_obfuscation: bool | None = None  # OpenAI's padding option: nothing to pad here


class ResponsesBody(_Strict):
    """``POST /v1/responses``; OneVault extras ride in ``metadata`` or ``x-onevault-*``."""

    model: str = Field(min_length=1, max_length=200)
    input: Text | Annotated[list[ItemIn], Field(max_length=MAX_TEXT)]
    instructions: str | None = Field(None, max_length=MAX_TEXT)
    tools: list[dict[str, Any]] | None = Field(None, max_length=512)
    tool_choice: Literal["auto", "none", "required"] | FunctionChoiceIn | None = None
    parallel_tool_calls: bool | None = None
    text: TextIn | None = None
    reasoning: ReasoningIn | None = None
    max_output_tokens: int | None = Field(None, ge=1, le=1_000_000)
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    top_logprobs: int | None = Field(None, ge=0, le=20)
    metadata: dict[str, str] | None = Field(None, max_length=32)
    store: bool | None = None
    user: str | None = Field(None, max_length=256, pattern=PRINTABLE)
    safety_identifier: str | None = Field(None, max_length=256, pattern=PRINTABLE)
    stream: bool = False
    stream_options: StreamOptionsIn | None = None
    previous_response_id: str | None = Field(None, min_length=1, max_length=200)
    include: list[str] | None = Field(None, max_length=16)
    truncation: Literal["auto", "disabled"] | None = None
    service_tier: Literal["auto", "default", "flex", "priority", "scale"] | None = None
    background: bool | None = None
    prompt_cache_key: str | None = Field(None, max_length=1024)  # a cache-routing hint: no effect here
    client_metadata: dict[str, Any] | None = Field(None, max_length=64)  # Codex's telemetry: not forwarded

    @model_validator(mode="after")
    def _consistent(self) -> ResponsesBody:
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        if isinstance(self.input, list) and not self.input and self.previous_response_id is None:
            raise ValueError("input needs at least one item")
        return self

    @property
    def logprobs(self) -> bool:
        return "message.output_text.logprobs" in (self.include or ()) or self.top_logprobs is not None

    @property
    def encrypted_reasoning(self) -> bool:
        return "reasoning.encrypted_content" in (self.include or ())


# -- request → canonical ----------------------------------------------------------------------------
def unsupported(param: str, message: str) -> ApiError:
    return ApiError(400, "unsupported_parameter", message, param=param)


def refuse_uncarried(body: ResponsesBody) -> None:
    """What parses but OneVault cannot carry: a 400 naming it, never a silent drop."""
    for i, value in enumerate(body.include or ()):
        if value not in OPENAI_INCLUDABLE:
            raise ApiError(
                400, "invalid_value", f"include[{i}]: unknown value {value!r}.", param=f"include[{i}]"
            )
        if value not in INCLUDABLE:
            raise unsupported(
                f"include[{i}]",
                f"include[{i}]: {value!r} belongs to a hosted tool or stored input OneVault does not "
                f"provide; it honours {', '.join(sorted(INCLUDABLE))}.",
            )
    if body.truncation == "auto":
        raise unsupported(
            "truncation",
            "truncation 'auto' is not supported: OneVault sends the whole input (use 'disabled').",
        )
    if body.background:
        raise unsupported("background", "background responses are not supported; stream instead.")
    verbosity = body.text.verbosity if body.text else None
    if verbosity not in (None, "medium"):
        raise unsupported("text.verbosity", "text.verbosity is not carried to providers (only 'medium').")


@dataclass(slots=True)
class ToolNames:
    """Flattened tool names of namespaced functions → (namespace, name), to split them back."""

    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)

    def flat(self, name: str, namespace: str | None) -> str:
        return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name

    def split(self, flat: str) -> tuple[str | None, str]:
        found = self.namespaced.get(flat)
        return found if found is not None else (None, flat)


def canonical_tools(raw: list[dict[str, Any]] | None) -> tuple[list[Tool], ToolNames]:
    """Function and namespace tools as canonical functions; any other type is refused by name."""
    tools: list[Tool] = []
    names = ToolNames()
    for i, doc in enumerate(raw or ()):
        kind = doc.get("type") if isinstance(doc, dict) else None
        if kind == "function":
            t = _parse(FunctionToolIn, doc, f"tools[{i}]")
            tools.append(Tool(t.name, t.description, t.parameters, t.strict))
        elif kind == "namespace":
            ns = _parse(NamespaceToolIn, doc, f"tools[{i}]")
            for t in ns.tools:
                flat = names.flat(t.name, ns.name)
                names.namespaced[flat] = (ns.name, t.name)
                description = "\n\n".join(d for d in (ns.description, t.description) if d) or None
                tools.append(Tool(flat, description, t.parameters, t.strict))
        else:
            raise unsupported(
                f"tools[{i}].type",
                f"tools[{i}]: tool type {kind!r} is not supported; OneVault carries function (and "
                "namespace) tools to every provider, not OpenAI's hosted tools. Turn the hosted tool "
                'off in the client (Codex: web_search = "disabled" in config.toml).',
            )
    seen: set[str] = set()
    for t in tools:
        if len(t.name) > 64:
            raise unsupported("tools", f"the tool name {t.name!r} is longer than 64 characters.")
        if t.name in seen:
            raise ApiError(400, "invalid_value", f"tools: the name {t.name!r} is given twice.", param="tools")
        seen.add(t.name)
    return tools, names


def _parse(model: type[_Strict], doc: Any, where: str) -> Any:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise ApiError(
            400,
            "validation_error",
            f"Invalid value for '{where}{loc}': {first['msg']}.",
            param=f"{where}{loc}",
        ) from None


def _image(part: InputImageIn, where: str) -> ImagePart:
    if part.image_url is None:
        raise unsupported(
            f"{where}.file_id",
            f"{where}: images by file_id need OpenAI's Files API, which OneVault does not proxy; "
            "send image_url (an http(s) or data: URL).",
        )
    url = part.image_url
    if url.startswith("data:"):
        try:
            parse_data_url(url)
        except ValueError as exc:
            raise ApiError(400, "invalid_image_url", f"{where}.image_url: {exc}.", param=where) from None
    elif not url.startswith(("http://", "https://")):
        raise ApiError(
            400, "invalid_image_url", f"{where}.image_url must be an http(s) or data: URL.", param=where
        )
    return ImagePart(url, part.detail)


def _file(part: InputFileIn, where: str) -> FilePart:
    if part.file_data is None:
        return FilePart(file_id=part.file_id, filename=part.filename)
    media_type, data = "application/pdf", part.file_data
    if data.startswith("data:"):
        try:
            media_type, data = parse_data_url(data)
        except ValueError as exc:
            raise ApiError(400, "invalid_file", f"{where}.file_data: {exc}.", param=where) from None
    return FilePart(data=data, media_type=media_type, filename=part.filename)


def _input_parts(parts: list[Any], where: str) -> list[ContentPart]:
    out: list[ContentPart] = []
    for j, p in enumerate(parts):
        at = f"{where}[{j}]"
        if isinstance(p, InputTextIn | OutputTextIn):
            out.append(TextPart(p.text))
        elif isinstance(p, InputImageIn):
            out.append(_image(p, at))
        elif isinstance(p, InputFileIn):
            out.append(_file(p, at))
    return out


def _content(content: str | list[Any], where: str) -> str | list[ContentPart]:
    return content if isinstance(content, str) else _input_parts(content, where)


class _Conversation:
    """Builds canonical messages from items, folding one assistant turn into one message."""

    def __init__(self, names: ToolNames) -> None:
        self.names = names
        self.messages: list[ChatMessage] = []
        self.reasoning: list[str] = []  # reasoning items waiting for their assistant output
        self.thinking: list[dict[str, Any]] = []  # and their signed thinking blocks

    def _assistant(self, *, merge: bool) -> ChatMessage:
        last = self.messages[-1] if self.messages else None
        if not (merge and last is not None and last.role == "assistant"):
            last = ChatMessage("assistant", None)
            self.messages.append(last)
        self._attach(last)
        return last

    def _attach(self, message: ChatMessage) -> None:
        if self.reasoning:
            message.reasoning = "\n\n".join(
                [*([message.reasoning] if message.reasoning else []), *self.reasoning]
            )
            self.reasoning = []
        if self.thinking:
            message.thinking_blocks = [*message.thinking_blocks, *self.thinking]
            self.thinking = []

    def add(self, item: Any, where: str) -> None:
        if isinstance(item, ReasoningItemIn):
            if item.text:
                self.reasoning.append(item.text)
            self.thinking += decode_blocks(item.encrypted_content)
            return
        if isinstance(item, FunctionCallItemIn):
            call = ToolCall(item.call_id, self.names.flat(item.name, item.namespace), item.arguments)
            self._assistant(merge=True).tool_calls.append(call)
            return
        if isinstance(item, MessageItemIn) and item.role == "assistant":
            self._assistant_message(item)
            return
        self.attach_left_over()
        if isinstance(item, FunctionCallOutputItemIn):
            output = _content(item.output, f"{where}.output")
            self.messages.append(ChatMessage("tool", output, tool_call_id=item.call_id))
        else:
            self.messages.append(ChatMessage(item.role, _content(item.content, f"{where}.content")))

    def attach_left_over(self) -> None:
        """Reasoning no output followed belongs to the turn before it."""
        if (self.reasoning or self.thinking) and self.messages and self.messages[-1].role == "assistant":
            self._attach(self.messages[-1])

    def _assistant_message(self, item: MessageItemIn) -> None:
        message = self._assistant(merge=False)
        if isinstance(item.content, str):
            message.content = item.content
            return
        text = "".join(p.text for p in item.content if isinstance(p, OutputTextIn))
        refusal = "".join(p.refusal for p in item.content if isinstance(p, RefusalIn))
        message.content = text if text or not refusal else None
        message.refusal = refusal or None


def canonical_input(body: ResponsesBody, names: ToolNames) -> list[ChatMessage]:
    """The body's ``input`` as canonical messages."""
    if isinstance(body.input, str):
        return [ChatMessage("user", body.input)]
    conversation = _Conversation(names)
    for i, item in enumerate(body.input):
        conversation.add(item, f"input[{i}]")
    conversation.attach_left_over()
    return conversation.messages


def _tool_choice(body: ResponsesBody, tools: list[Tool]) -> ToolChoice | None:
    choice = body.tool_choice
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in ("required",) and not tools:
            raise ApiError(400, "invalid_tool_choice", "tool_choice requires tools.", param="tool_choice")
        return ToolChoice(choice)
    if not any(t.name == choice.name for t in tools):
        raise ApiError(
            400,
            "invalid_tool_choice",
            f"tool_choice names {choice.name!r}, which is not among the request's tools.",
            param="tool_choice",
        )
    return ToolChoice("function", choice.name)


def _response_format(body: ResponsesBody) -> ResponseFormat | None:
    fmt = body.text.format if body.text is not None else None
    if fmt is None:
        return None
    return ResponseFormat(fmt.type, fmt.name, fmt.schema_, fmt.strict, fmt.description)


def to_canonical(
    body: ResponsesBody,
    prior: list[ChatMessage],
    metadata: dict[str, str] | None,
) -> tuple[ChatRequest, ToolNames]:
    """The canonical request; ``prior`` is the conversation ``previous_response_id`` continues
    (empty without one), ``metadata`` what is forwarded to providers that store it."""
    refuse_uncarried(body)
    tools, names = canonical_tools(body.tools)
    messages = [ChatMessage("system", body.instructions)] if body.instructions else []
    if body.instructions:
        prior = _without_leading_instructions(prior)
    messages += prior + canonical_input(body, names)
    if not messages:
        raise ApiError(400, "invalid_value", "input holds no message.", param="input")
    chat = ChatRequest(
        model=body.model,
        messages=messages,
        max_tokens=body.max_output_tokens,
        temperature=body.temperature,
        stream=body.stream,
        user=body.user or body.safety_identifier,
        top_p=body.top_p,
        tools=tools,
        tool_choice=_tool_choice(body, tools),
        parallel_tool_calls=body.parallel_tool_calls,
        response_format=_response_format(body),
        reasoning_effort=body.reasoning.effort if body.reasoning else None,
        logprobs=True if body.logprobs else None,
        top_logprobs=body.top_logprobs,
        service_tier=body.service_tier,
        metadata=metadata or None,
    )
    return chat, names


def _without_leading_instructions(messages: list[ChatMessage]) -> list[ChatMessage]:
    """OpenAI does not carry a previous response's instructions over: new ones replace them."""
    i = 0
    while i < len(messages) and messages[i].is_instruction:
        i += 1
    return messages[i:]


def prior_turn(messages: list[ChatMessage], answer: dict[str, Any]) -> list[ChatMessage]:
    """A stored conversation and its answer (``response_to_json``) as the history to continue."""
    calls = [ToolCall(c["id"], c["name"], c["arguments"]) for c in answer.get("tool_calls") or ()]
    text = answer.get("text") or ""
    refusal = answer.get("refusal")
    reply = ChatMessage(
        "assistant",
        text if text or not (calls or refusal) else None,
        tool_calls=calls,
        refusal=refusal,
        reasoning=answer.get("reasoning"),
        thinking_blocks=list(answer.get("thinking_blocks") or ()),
    )
    return [*messages, reply]
