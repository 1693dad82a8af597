"""The canonical model (``gateway.providers.types``) as plain JSON, and back.

One spelling of a conversation for everything that must *keep* or *compare* one: the exact and
semantic cache keys, the retention payload sealed into the vault (``encrypted``) or hashed
(``hash``), and whatever later reads a stored conversation back (the Responses API door).
It is OneVault's own shape, not any provider's wire: it is never sent upstream, so it can carry
every field the canonical model has and nothing a door or adapter would have to re-interpret.
Anthropic's signed ``thinking_blocks`` are kept as they came (on messages and answers): a cached
or stored answer must give them back unmodified, or Anthropic refuses the next tool turn.

Deterministic by construction: every object this module builds has its keys in sorted order
and leaves out fields at their default (None, empty), so the same request always serialises to
the same bytes (``dumps``) — what a cache key needs. Maps whose order means nothing
(``metadata``, ``logit_bias``) are sorted too. What the client wrote is kept as written: JSON
Schemas keep their property order (a structured-output model emits properties in schema order,
so a reordered schema is a different request) and tool-call arguments stay the model's own text.

``media="digest"`` replaces an image URL, an audio clip's or a file's data with its SHA-256
(``url_sha256`` / ``data_sha256``): the cache keys need to know *which* picture was sent, not
to carry megabytes of base64 through Redis keys and hashes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections.abc import Callable
from typing import Any, Final, Literal, Protocol

import orjson

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
)

Media = Literal["inline", "digest"]
_PART_TYPES: dict[str, type[TextPart] | type[ImagePart] | type[AudioPart] | type[FilePart]] = {
    "text": TextPart,
    "image": ImagePart,
    "audio": AudioPart,
    "file": FilePart,
}
_DIGESTED = {"image": "url", "audio": "data", "file": "data"}  # the heavy field of each media part


class Answer(Protocol):
    """What ``response_to_json`` reads: a ChatResponse, a pipeline Outcome or a CachedAnswer."""

    @property
    def text(self) -> str: ...
    @property
    def finish_reason(self) -> str | None: ...
    @property
    def tool_calls(self) -> list[ToolCall]: ...
    @property
    def refusal(self) -> str | None: ...
    @property
    def reasoning(self) -> str | None: ...


def dumps(doc: Any) -> bytes:
    """The bytes of a document built here (already in canonical order; nothing is re-sorted)."""
    return orjson.dumps(doc)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _obj(**fields: Any) -> dict[str, Any]:
    """An object with its keys sorted, fields at their default (None, [], {}) left out."""
    return {k: fields[k] for k in sorted(fields) if not _unset(fields[k])}


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, list | dict) and not value)


# -- content parts -----------------------------------------------------------------------------
def part_to_json(part: ContentPart, *, media: Media = "inline") -> dict[str, Any]:
    fields = {f.name: getattr(part, f.name) for f in dataclasses.fields(part)}
    heavy = _DIGESTED.get(part.type) if media == "digest" else None
    if heavy is not None and fields.get(heavy) is not None:
        fields[f"{heavy}_sha256"] = sha256_hex(fields.pop(heavy))
    return _obj(**fields)


def part_from_json(doc: dict[str, Any]) -> ContentPart:
    kind = doc.get("type")
    cls = _PART_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown content part type {kind!r}")
    return cls(**{k: v for k, v in doc.items() if k != "type"})


def content_to_json(content: str | list[ContentPart] | None, *, media: Media = "inline") -> Any:
    if content is None or isinstance(content, str):
        return content
    return [part_to_json(p, media=media) for p in content]


def content_from_json(doc: Any) -> str | list[ContentPart] | None:
    if doc is None or isinstance(doc, str):
        return doc
    return [part_from_json(p) for p in doc]


# -- tool calls and messages --------------------------------------------------------------------
def tool_calls_to_json(calls: list[ToolCall]) -> list[dict[str, str]]:
    return [{"arguments": c.arguments, "id": c.id, "name": c.name} for c in calls]


def tool_calls_from_json(doc: list[dict[str, str]] | None) -> list[ToolCall]:
    return [ToolCall(c["id"], c["name"], c["arguments"]) for c in doc or ()]


def message_to_json(m: ChatMessage, *, media: Media = "inline") -> dict[str, Any]:
    # Written out in key order: this runs for every message of every cached request.
    doc: dict[str, Any] = {"content": content_to_json(m.content, media=media)}  # "" and None differ
    if m.is_error:
        doc["is_error"] = True
    if m.name is not None:
        doc["name"] = m.name
    if m.reasoning is not None:
        doc["reasoning"] = m.reasoning
    if m.refusal is not None:
        doc["refusal"] = m.refusal
    doc["role"] = m.role
    if m.thinking_blocks:
        doc["thinking_blocks"] = m.thinking_blocks
    if m.tool_call_id is not None:
        doc["tool_call_id"] = m.tool_call_id
    if m.tool_calls:
        doc["tool_calls"] = tool_calls_to_json(m.tool_calls)
    return doc


def message_from_json(doc: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        doc["role"],
        content_from_json(doc.get("content")),
        name=doc.get("name"),
        tool_calls=tool_calls_from_json(doc.get("tool_calls")),
        tool_call_id=doc.get("tool_call_id"),
        refusal=doc.get("refusal"),
        reasoning=doc.get("reasoning"),
        is_error=bool(doc.get("is_error", False)),
        thinking_blocks=list(doc.get("thinking_blocks") or ()),
    )


def messages_to_json(messages: list[ChatMessage], *, media: Media = "inline") -> list[dict[str, Any]]:
    return [message_to_json(m, media=media) for m in messages]


def messages_from_json(doc: list[dict[str, Any]]) -> list[ChatMessage]:
    return [message_from_json(m) for m in doc]


# -- request options -----------------------------------------------------------------------------
def tool_to_json(t: Tool) -> dict[str, Any]:
    doc: dict[str, Any] = {} if t.description is None else {"description": t.description}
    doc["name"] = t.name
    if t.parameters is not None:  # kept even when {} ("no parameters" is a schema)
        doc["parameters"] = t.parameters
    if t.strict is not None:
        doc["strict"] = t.strict
    return doc


def tool_from_json(doc: dict[str, Any]) -> Tool:
    return Tool(doc["name"], doc.get("description"), doc.get("parameters"), doc.get("strict"))


def response_format_to_json(f: ResponseFormat) -> dict[str, Any]:
    doc = _obj(type=f.type, name=f.name, strict=f.strict, description=f.description)
    if f.schema is not None:
        doc["schema"] = f.schema
    return dict(sorted(doc.items()))


def response_format_from_json(doc: dict[str, Any]) -> ResponseFormat:
    return ResponseFormat(
        doc["type"], doc.get("name"), doc.get("schema"), doc.get("strict"), doc.get("description")
    )


def _tool_choice_to_json(c: ToolChoice) -> dict[str, Any]:
    return {"mode": c.mode} if c.name is None else {"mode": c.mode, "name": c.name}


def _sorted_map(value: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(value.items()))


# Every field of ChatRequest but the messages, in key order (a field added to the model later
# is carried without a change here); the ones that are not plain JSON values are converted.
_OPTION_NAMES: Final = tuple(sorted(f.name for f in dataclasses.fields(ChatRequest) if f.name != "messages"))
_options_of: Final = operator.attrgetter(*_OPTION_NAMES)
_CONVERT: Final[dict[str, Callable[[Any], Any]]] = {
    "tools": lambda tools: [tool_to_json(t) for t in tools],
    "tool_choice": _tool_choice_to_json,
    "response_format": response_format_to_json,
    "logit_bias": _sorted_map,
    "metadata": _sorted_map,
    "provider_headers": _sorted_map,
}


def options_to_json(request: ChatRequest) -> dict[str, Any]:
    """Every field of the request but its messages; options left unset are left out."""
    doc: dict[str, Any] = {}
    for name, value in zip(_OPTION_NAMES, _options_of(request), strict=True):
        if value is None or value == [] or value == {} or (value is False and name == "stream"):
            continue
        convert = _CONVERT.get(name)
        doc[name] = value if convert is None else convert(value)
    return doc


def request_to_json(request: ChatRequest, *, media: Media = "inline") -> dict[str, Any]:
    """Every field of the request; options left unset are left out."""
    doc = options_to_json(request)
    doc["messages"] = messages_to_json(request.messages, media=media)
    return dict(sorted(doc.items()))


def request_from_json(doc: dict[str, Any]) -> ChatRequest:
    choice = doc.get("tool_choice")
    fmt = doc.get("response_format")
    plain = {
        k: v
        for k, v in doc.items()
        if k not in ("messages", "tools", "tool_choice", "response_format", "model")
    }
    return ChatRequest(
        doc["model"],
        messages_from_json(doc["messages"]),
        tools=[tool_from_json(t) for t in doc.get("tools", ())],
        tool_choice=ToolChoice(choice["mode"], choice.get("name")) if choice else None,
        response_format=response_format_from_json(fmt) if fmt else None,
        **plain,
    )


# -- answers --------------------------------------------------------------------------------------
def response_to_json(answer: Answer) -> dict[str, Any]:
    """An answer as the client received it: text, tool calls, refusal, reasoning, finish reason
    (and logprobs and Anthropic's signed thinking blocks when the answer has them, so a cached or
    stored answer replays them)."""
    doc = _obj(
        finish_reason=answer.finish_reason,
        tool_calls=tool_calls_to_json(answer.tool_calls),
        refusal=answer.refusal,
        reasoning=answer.reasoning,
        logprobs=getattr(answer, "logprobs", None),
        thinking_blocks=getattr(answer, "thinking_blocks", None),
    )
    doc["text"] = answer.text
    return dict(sorted(doc.items()))
