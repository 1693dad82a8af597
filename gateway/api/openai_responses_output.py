"""The OpenAI Responses API's output side: the response object and its streamed events, built
from the pipeline's outcome and stream chunks (the request side is gateway/api/openai_responses.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from gateway.api.openai_responses import ResponsesBody, ToolNames
from gateway.api.sse import sse
from gateway.providers.thinking import encode_blocks
from gateway.providers.types import (
    StreamChunk,
    ToolCall,
    Usage,
)


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


def reasoning_item(
    item_id: str, text: str, status: str = "completed", encrypted: str | None = None
) -> dict[str, Any]:
    """``encrypted``: Anthropic's signed thinking (``thinking.encode_blocks``), when ``include``
    asks for ``reasoning.encrypted_content``."""
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": summary,
        "encrypted_content": encrypted,
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
    encrypted: str | None = None,
) -> list[dict[str, Any]]:
    """The ``output`` array of a whole answer: reasoning, the message, then function calls."""
    items: list[dict[str, Any]] = []
    if reasoning or encrypted:
        items.append(reasoning_item(ids.reasoning, reasoning or "", encrypted=encrypted))
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
    final ``response.completed`` repeats the same items with the same ids. Signed thinking blocks
    (``StreamChunk.thinking_blocks``) belong to the reasoning item they follow (one is opened for
    a block with no text); with ``encrypted``, its ``done`` carries them as ``encrypted_content``.
    """

    def __init__(
        self, ids: ItemIds, names: ToolNames, envelope: Envelope, model: str, *, encrypted: bool = False
    ) -> None:
        self.ids, self.names, self.envelope, self.model = ids, names, envelope, model
        self.encrypted = encrypted  # include has reasoning.encrypted_content
        self.thinking: list[dict[str, Any]] = []  # the open reasoning item's signed blocks
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
        if self.encrypted:
            item["encrypted_content"] = encode_blocks(self.thinking)
        self.thinking = []
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
    def _open_reasoning(self) -> list[bytes]:
        out = self._close_message() + self._close_calls()
        if self.open_reasoning is None:
            item = reasoning_item(self.ids.reasoning, "", status="in_progress")
            index, added = self._add(item)
            self.open_reasoning = index
            item["summary"] = [{"type": "summary_text", "text": ""}]
            at = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            part = {"type": "summary_text", "text": ""}
            out += [added, self.event("response.reasoning_summary_part.added", {**at, "part": part})]
        return out

    def _reasoning(self, delta: str) -> list[bytes]:
        out = self._open_reasoning()
        index = self.open_reasoning
        assert index is not None
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
        if chunk.thinking_blocks:
            out += self._open_reasoning()
            self.thinking += chunk.thinking_blocks
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
