"""OpenAI's Responses API wire: the request body, its translation into the canonical request,
and the response object and stream events built from the pipeline's outcome.

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
``namespace`` tools (Codex groups its sub-agent tools so) are flattened to
``<namespace>__<name>`` functions for the provider and split back in the answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from gateway.api.fields import PRINTABLE
from gateway.api.openai_chat import MAX_TEXT, TOOL_NAME
from gateway.api.sse import sse
from gateway.errors import ApiError
from gateway.providers.types import (
    ChatMessage,
    ChatRequest,
    ContentPart,
    FilePart,
    ImagePart,
    ResponseFormat,
    StreamChunk,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
    parse_data_url,
)

NAMESPACE_SEPARATOR = "__"
# ``include`` values this door honours: reasoning items are returned (their encrypted content is
# null: upstream reasoning reaches OneVault as text), and logprobs on output_text.
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
    content: str | list[PartIn] = Field(max_length=MAX_TEXT)
    id: str | None = Field(None, max_length=200)
    status: Literal["in_progress", "completed", "incomplete"] | None = None
    phase: Literal["commentary", "final_answer"] | None = None  # Codex's own label for a turn's text

    @model_validator(mode="after")
    def _parts_fit_role(self) -> MessageItemIn:
        if isinstance(self.content, list):
            kinds = {p.type for p in self.content}
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
    output: str | list[InputPartIn] = Field(max_length=MAX_TEXT)
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
    input: str | list[ItemIn] = Field(max_length=MAX_TEXT)
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

    def add(self, item: Any, where: str) -> None:
        if isinstance(item, ReasoningItemIn):
            if item.text:
                self.reasoning.append(item.text)
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
        """Reasoning no output followed belongs to the turn before it (it is never sent upstream)."""
        if self.reasoning and self.messages and self.messages[-1].role == "assistant":
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
    )
    return [*messages, reply]


# -- canonical → response ---------------------------------------------------------------------------
def response_id(request_id: str) -> str:
    return f"resp_{request_id}"


def request_id_of_response(resp_id: str) -> str | None:
    rid = resp_id.removeprefix("resp_")
    return rid if rid != resp_id and rid.startswith("req_") else None


@dataclass(slots=True)
class ItemIds:
    """Output item ids derived from the request id: the same in a stream and its final object."""

    request_id: str

    @property
    def message(self) -> str:
        return f"msg_{self.request_id}"

    @property
    def reasoning(self) -> str:
        return f"rs_{self.request_id}"

    def call(self, index: int) -> str:
        return f"fc_{self.request_id}_{index}"


def reasoning_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": summary,
        "encrypted_content": None,
        "status": status,
    }


def text_part(text: str, logprobs: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}


def message_item(item_id: str, content: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": item_id, "role": "assistant", "status": status, "content": content}


def call_item(item_id: str, call: ToolCall, names: ToolNames, status: str = "completed") -> dict[str, Any]:
    namespace, name = names.split(call.name)
    item = {
        "type": "function_call",
        "id": item_id,
        "call_id": call.id,
        "name": name,
        "arguments": call.arguments,
        "status": status,
    }
    if namespace is not None:
        item["namespace"] = namespace
    return item


def output_items(
    ids: ItemIds,
    text: str,
    tool_calls: list[ToolCall],
    refusal: str | None,
    reasoning: str | None,
    logprobs: list[dict[str, Any]] | None,
    names: ToolNames,
) -> list[dict[str, Any]]:
    """The ``output`` array of a whole answer: reasoning, the message, then function calls."""
    items: list[dict[str, Any]] = []
    if reasoning:
        items.append(reasoning_item(ids.reasoning, reasoning))
    content = [text_part(text, logprobs)] if text or not (tool_calls or refusal) else []
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    if content:
        items.append(message_item(ids.message, content))
    items += [call_item(ids.call(i), c, names) for i, c in enumerate(tool_calls)]
    return items


def usage_json(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {
            "cached_tokens": u.cached_input_tokens,
            "cache_write_tokens": u.cache_write_tokens,
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total_tokens,
    }


INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def status_of(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    reason = INCOMPLETE_REASONS.get(finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def echo(body: ResponsesBody) -> dict[str, Any]:
    """The request's settings as the response object repeats them."""
    fmt = body.text.format if body.text and body.text.format else None
    reasoning = body.reasoning
    return {
        "instructions": body.instructions,
        "tools": body.tools or [],
        "tool_choice": body.tool_choice.model_dump()
        if isinstance(body.tool_choice, BaseModel)
        else (body.tool_choice or "auto"),
        "parallel_tool_calls": body.parallel_tool_calls if body.parallel_tool_calls is not None else True,
        "text": {
            "format": fmt.model_dump(by_alias=True, exclude_none=True) if fmt else {"type": "text"},
            "verbosity": "medium",
        },
        "reasoning": {
            "effort": reasoning.effort if reasoning else None,
            "summary": (reasoning.summary or reasoning.generate_summary) if reasoning else None,
        },
        "temperature": body.temperature,
        "top_p": body.top_p,
        "top_logprobs": body.top_logprobs,
        "max_output_tokens": body.max_output_tokens,
        "previous_response_id": body.previous_response_id,
        "metadata": body.metadata or {},
        "store": body.store if body.store is not None else True,
        "truncation": body.truncation or "disabled",
        "user": body.user,
        "safety_identifier": body.safety_identifier,
        "service_tier": body.service_tier,
        "background": False,
    }


@dataclass(slots=True, frozen=True)
class Envelope:
    """What every rendering of one response shares: its id, creation time and echoed settings."""

    id: str
    created_at: int
    settings: dict[str, Any]

    def render(
        self,
        *,
        model: str,
        status: str,
        output: list[dict[str, Any]],
        usage: Usage | None = None,
        incomplete: dict[str, str] | None = None,
        error: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "completed_at": int(time.time()) if status != "in_progress" else None,
            "status": status,
            "model": model,
            "output": output,
            "output_text": "".join(
                c["text"]
                for item in output
                if item["type"] == "message"
                for c in item["content"]
                if c["type"] == "output_text"
            ),
            "usage": usage_json(usage) if usage is not None else None,
            "incomplete_details": incomplete,
            "error": error,
            **self.settings,
        }


# -- streaming ------------------------------------------------------------------------------------
class ResponseStream:
    """Turns canonical ``StreamChunk``s into the Responses event sequence.

    Items open lazily in the order their content arrives (reasoning summary, the message's
    output_text / refusal parts, function calls by index) and close when the next kind begins or
    the answer ends, so every ``*.delta`` sits between its item's ``added`` and ``done``; the
    final ``response.completed`` repeats the same items with the same ids.
    """

    def __init__(self, ids: ItemIds, names: ToolNames, envelope: Envelope, model: str) -> None:
        self.ids, self.names, self.envelope, self.model = ids, names, envelope, model
        self.seq = 0
        self.items: list[dict[str, Any]] = []  # in output_index order
        self.open_reasoning: int | None = None
        self.open_message: int | None = None
        self.open_part: str | None = None  # "output_text" | "refusal" being streamed in the message
        self.calls: dict[int, int] = {}  # tool-call index → output_index
        self.open_calls: list[int] = []
        self.status = "completed"  # what closing items marks them (incomplete when the answer is cut)

    def event(self, kind: str, payload: dict[str, Any]) -> bytes:
        doc = {"type": kind, **payload, "sequence_number": self.seq}
        self.seq += 1
        return b"event: " + kind.encode() + b"\n" + sse(doc)

    def start(self) -> list[bytes]:
        doc = self.envelope.render(model=self.model, status="in_progress", output=[])
        return [
            self.event("response.created", {"response": doc}),
            self.event("response.in_progress", {"response": doc}),
        ]

    # -- items -----------------------------------------------------------------------------------
    def _add(self, item: dict[str, Any]) -> tuple[int, bytes]:
        index = len(self.items)
        self.items.append(item)
        return index, self.event("response.output_item.added", {"output_index": index, "item": dict(item)})

    def _done(self, index: int, status: str = "completed") -> bytes:
        item = self.items[index]
        item["status"] = status
        return self.event("response.output_item.done", {"output_index": index, "item": item})

    def _close_reasoning(self) -> list[bytes]:
        if self.open_reasoning is None:
            return []
        index, self.open_reasoning = self.open_reasoning, None
        item = self.items[index]
        text = item["summary"][0]["text"]
        at = {"item_id": item["id"], "output_index": index, "summary_index": 0}
        return [
            self.event("response.reasoning_summary_text.done", {**at, "text": text}),
            self.event(
                "response.reasoning_summary_part.done", {**at, "part": {"type": "summary_text", "text": text}}
            ),
            self._done(index, self.status),
        ]

    def _close_part(self) -> list[bytes]:
        if self.open_part is None or self.open_message is None:
            return []
        index, kind = self.open_message, self.open_part
        self.open_part = None
        item = self.items[index]
        part = item["content"][-1]
        at = {"item_id": item["id"], "output_index": index, "content_index": len(item["content"]) - 1}
        if kind == "output_text":
            done = self.event(
                "response.output_text.done", {**at, "text": part["text"], "logprobs": part["logprobs"]}
            )
        else:
            done = self.event("response.refusal.done", {**at, "refusal": part["refusal"]})
        return [done, self.event("response.content_part.done", {**at, "part": part})]

    def _close_message(self) -> list[bytes]:
        if self.open_message is None:
            return []
        out = self._close_part()
        index, self.open_message = self.open_message, None
        return [*out, self._done(index, self.status)]

    def _close_calls(self) -> list[bytes]:
        out = []
        for index in self.open_calls:
            item = self.items[index]
            at = {"item_id": item["id"], "output_index": index}
            out.append(
                self.event("response.function_call_arguments.done", {**at, "arguments": item["arguments"]})
            )
            out.append(self._done(index, self.status))
        self.open_calls = []
        return out

    # -- content ---------------------------------------------------------------------------------
    def _reasoning(self, delta: str) -> list[bytes]:
        out = self._close_message() + self._close_calls()
        if self.open_reasoning is None:
            item = reasoning_item(self.ids.reasoning, "", status="in_progress")
            index, added = self._add(item)
            self.open_reasoning = index
            item["summary"] = [{"type": "summary_text", "text": ""}]
            at = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            part = {"type": "summary_text", "text": ""}
            out += [added, self.event("response.reasoning_summary_part.added", {**at, "part": part})]
        index = self.open_reasoning
        item = self.items[index]
        item["summary"][0]["text"] += delta
        at = {"item_id": item["id"], "output_index": index, "summary_index": 0}
        return [*out, self.event("response.reasoning_summary_text.delta", {**at, "delta": delta})]

    def _message_part(self, kind: str) -> tuple[list[bytes], dict[str, Any], dict[str, Any]]:
        out = self._close_reasoning() + self._close_calls()
        if self.open_message is None:
            index, added = self._add(message_item(self.ids.message, [], status="in_progress"))
            self.open_message = index
            out.append(added)
        item = self.items[self.open_message]
        if self.open_part != kind:
            out += self._close_part()
            part = text_part("", None) if kind == "output_text" else {"type": "refusal", "refusal": ""}
            item["content"].append(part)
            self.open_part = kind
            at = {
                "item_id": item["id"],
                "output_index": self.open_message,
                "content_index": len(item["content"]) - 1,
            }
            out.append(self.event("response.content_part.added", {**at, "part": dict(part)}))
        at = {
            "item_id": item["id"],
            "output_index": self.open_message,
            "content_index": len(item["content"]) - 1,
        }
        return out, item["content"][-1], at

    def _text(self, delta: str, logprobs: list[dict[str, Any]] | None) -> list[bytes]:
        out, part, at = self._message_part("output_text")
        part["text"] += delta
        part["logprobs"] += logprobs or []
        return [
            *out,
            self.event("response.output_text.delta", {**at, "delta": delta, "logprobs": logprobs or []}),
        ]

    def _refusal(self, delta: str) -> list[bytes]:
        out, part, at = self._message_part("refusal")
        part["refusal"] += delta
        return [*out, self.event("response.refusal.delta", {**at, "delta": delta})]

    def _tool_calls(self, chunk: StreamChunk) -> list[bytes]:
        out = self._close_reasoning() + self._close_message()
        for d in chunk.tool_calls or ():
            if d.index not in self.calls:
                call = ToolCall(d.id or f"call_{self.ids.request_id}_{d.index}", d.name or "", "")
                index, added = self._add(
                    call_item(self.ids.call(d.index), call, self.names, status="in_progress")
                )
                self.calls[d.index] = index
                self.open_calls.append(index)
                out.append(added)
            index = self.calls[d.index]
            item = self.items[index]
            if d.arguments:
                item["arguments"] += d.arguments
                at = {"item_id": item["id"], "output_index": index}
                out.append(self.event("response.function_call_arguments.delta", {**at, "delta": d.arguments}))
        return out

    def chunk(self, chunk: StreamChunk) -> list[bytes]:
        out: list[bytes] = []
        if chunk.reasoning:
            out += self._reasoning(chunk.reasoning)
        if chunk.delta:
            out += self._text(chunk.delta, chunk.logprobs)
        if chunk.refusal:
            out += self._refusal(chunk.refusal)
        if chunk.tool_calls:
            out += self._tool_calls(chunk)
        return out

    def close(self, status: str = "completed") -> list[bytes]:
        """Close what is open; an answer with nothing at all still gets its (empty) message."""
        self.status = status
        out = self._message_part("output_text")[0] if not self.items else []
        return out + self._close_reasoning() + self._close_message() + self._close_calls()

    def finish(
        self, model: str, usage: Usage, finish_reason: str | None, extra: dict[str, Any]
    ) -> list[bytes]:
        status, incomplete = status_of(finish_reason)
        out = self.close("completed" if status == "completed" else "incomplete")
        doc = self.envelope.render(
            model=model, status=status, output=self.items, usage=usage, incomplete=incomplete
        )
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*out, self.event(kind, {"response": {**doc, **extra}})]

    def failed(self, code: str, message: str) -> list[bytes]:
        out = self.close("incomplete")
        error = {"code": code, "message": message}
        doc = self.envelope.render(model=self.model, status="failed", output=self.items, error=error)
        return [*out, self.event("response.failed", {"response": doc})]

    def error(self, code: str, message: str, param: str | None) -> list[bytes]:
        return [self.event("error", {"code": code, "message": message, "param": param})]
