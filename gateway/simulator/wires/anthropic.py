"""Anthropic Messages API: top-level ``system``, mandatory ``max_tokens`` and version header.

What the request may hold is checked as Anthropic's API reference defines it, and refused with a
400 ``invalid_request_error`` worded like the real API's otherwise:

- roles ``user`` and ``assistant`` only; content a string or typed blocks (``text``, ``image``
  with a ``base64`` source of a JPEG/PNG/GIF/WebP or a ``url`` source, ``document`` with a
  ``base64`` PDF, ``text`` or ``url`` source; ``tool_use`` and ``thinking`` in assistant turns,
  ``tool_result`` in user turns). Consecutive same-role messages are combined first, as the
  API documents; then every ``tool_use`` id of an assistant turn must be answered by a
  ``tool_result`` at the start of the next turn, and every ``tool_result`` must answer a
  ``tool_use`` of the previous turn. A request holding tool blocks must define ``tools``.
- ``tools`` of ``{name, input_schema}`` (checked with ``toolgen.check_tool``); ``tool_choice``
  ``auto`` / ``any`` / ``tool`` (with a ``name`` among the tools) / ``none``, optionally with
  ``disable_parallel_tool_use``; ``thinking`` ``enabled`` with ``1024 <= budget_tokens <
  max_tokens``, ``adaptive`` or ``disabled``. With thinking on, a forced tool choice is refused,
  and so is a final assistant turn with tool calls that does not start with a thinking block, or
  a ``thinking`` block anywhere whose signature does not verify (a block not signed here, or
  whose text was changed); ``redacted_thinking`` data is opaque and not checked. With thinking
  off, an assistant turn in the final position may not hold thinking blocks.

Answers: a model that thinks (asked by ``thinking``, else by its name) answers a ``thinking``
block (``reply.reasoning_text`` and its signature: an HMAC of the text under the simulator's
fixed key, ``signature``) first; then the text, or ``tool_use`` blocks
with ``stop_reason: tool_use``. Tool-call ids look like Anthropic's (``toolu_``). Streams follow
the real event sequence: ``message_start``; per block ``content_block_start``, its deltas
(``thinking_delta`` then ``signature_delta``; ``text_delta``; ``input_json_delta`` pieces after a
``tool_use`` start with ``input: {}``) and ``content_block_stop``; ``ping`` after the first
block starts; ``message_delta`` (stop reason, output usage) and ``message_stop``.
Images count ``IMAGE_TOKENS`` each and documents by their size (``toolgen.MediaTokens``).
``POST /v1/messages/count_tokens`` answers ``{"input_tokens"}`` for a body as the answer to it
would count them (``AnthropicDialect.count_tokens``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, ClassVar, Final

import orjson
from starlette.requests import Request

from gateway.simulator.textgen import SimReply, count_tokens, is_reasoning_model
from gateway.simulator.toolgen import MediaTokens, SimTool, ToolSchemaError, check_tool, json_pieces
from gateway.simulator.wires.base import Dialect, Frame, SimCall, WireError, int_or_none, text_of

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
IMAGE_MEDIA_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")
TOOL_CHOICES: Final = {"auto": "auto", "any": "required", "tool": "required", "none": "none"}
MIN_THINKING_BUDGET: Final = 1024
USER_BLOCKS: Final = frozenset({"text", "image", "document", "tool_result"})
ASSISTANT_BLOCKS: Final = frozenset({"text", "tool_use", "thinking", "redacted_thinking"})
RESULT_BLOCKS: Final = frozenset({"text", "image", "document"})
COUNT_REFUSED: Final = frozenset(
    {"max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata", "service_tier"}
)
MAX_COUNTED_OUTPUT: Final = 1_000_000  # stands in for max_tokens when parsing a count request


def anthropic_usage(reply: SimReply) -> dict[str, Any]:
    """``input_tokens`` excludes cache reads; thinking and tool input are billed inside ``output_tokens``."""
    return {
        "input_tokens": reply.input_tokens - reply.cached_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": reply.cached_tokens,
        "output_tokens": reply.output_tokens + reply.reasoning_tokens,
    }


def _stop_reason(reply: SimReply) -> str:
    return {"tool_calls": "tool_use", "length": "max_tokens"}.get(reply.finish, "end_turn")


SIGNING_KEY: Final = b"onevault-simulator-thinking-key"  # fixed: signatures are deterministic


def signature(text: str) -> str:
    """An opaque, deterministic stand-in for the signature Anthropic puts on a thinking block:
    it verifies only for the text it was made for (``verifies``)."""
    return base64.b64encode(hmac.digest(SIGNING_KEY, text.encode(), hashlib.sha256)).decode()


def verifies(block: dict[str, Any]) -> bool:
    given = block.get("signature")
    text = block.get("thinking")
    if not isinstance(given, str) or not isinstance(text, str):
        return False
    return hmac.compare_digest(given, signature(text))


def _thinks(call: SimCall) -> bool:
    return is_reasoning_model(call.model) if call.reasoning is None else call.reasoning


def _words(text: str) -> list[str]:
    return [word if i == 0 else f" {word}" for i, word in enumerate(text.split())]


def _text_index(call: SimCall) -> int:
    """The text block's index: 1 after a thinking block, else 0."""
    return 1 if _thinks(call) else 0


# -- request checks -------------------------------------------------------------------------------
def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise WireError(400, f"{where}.content: Input should be a valid list")
    return content


class _Conversation:
    """Walks the combined turns: the texts input tokens count, the last user text, the media,
    and the tool-use / tool-result pairing the real API enforces."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.prompt = ""
        self.media = MediaTokens()
        self.has_tool_blocks = False
        self.ends_with_user = True
        self.final_assistant: list[dict[str, Any]] | None = None  # the last assistant turn's blocks
        self.thinking: list[tuple[str, dict[str, Any]]] = []  # (where, block) of every thinking block
        self.ends_with_assistant = False

    def walk(self, messages: list[Any]) -> None:
        turns = self._combine(messages)
        for n, (role, where, blocks) in enumerate(turns):
            if role == "assistant":
                self._assistant(where, blocks)
                self.final_assistant = blocks
                if n + 1 == len(turns):
                    _check_answered(where, _tool_use_ids(blocks), [])
                continue
            previous = turns[n - 1] if n else None
            uses = _tool_use_ids(previous[2]) if previous is not None else []
            self._user(where, blocks, set(uses))
            if previous is not None:
                _check_answered(previous[1], uses, blocks)
        last_role, _, last_blocks = turns[-1]
        self.ends_with_user = last_role == "user" and any(b.get("type") != "tool_result" for b in last_blocks)
        self.ends_with_assistant = last_role == "assistant"

    @staticmethod
    def _combine(messages: list[Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
        turns: list[tuple[str, str, list[dict[str, Any]]]] = []
        for i, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ("user", "assistant"):
                raise WireError(
                    400,
                    f'messages: Unexpected role "{role}". The Messages API accepts a top-level `system` '
                    'parameter, not "system" as an input message role.',
                )
            blocks = _blocks(message.get("content"), f"messages.{i}")
            if turns and turns[-1][0] == role:
                turns[-1][2].extend(blocks)
            else:
                turns.append((role, f"messages.{i}", list(blocks)))
        return turns

    def _assistant(self, where: str, blocks: list[dict[str, Any]]) -> None:
        for j, block in enumerate(blocks):
            kind = block.get("type")
            at = f"{where}.content.{j}"
            if kind not in ASSISTANT_BLOCKS:
                raise WireError(400, f"{at}: Input tag '{kind}' is not a valid assistant content block type")
            if kind == "text":
                self.texts.append(str(block.get("text", "")))
            elif kind == "thinking":
                self.texts.append(str(block.get("thinking", "")))
                self.thinking.append((at, block))
            elif kind == "tool_use":
                self.has_tool_blocks = True
                if not block.get("id") or not block.get("name") or not isinstance(block.get("input"), dict):
                    raise WireError(400, f"{at}.tool_use: id, name and an object input are required")
                self.texts.append(orjson.dumps(block["input"]).decode())

    def _user(self, where: str, blocks: list[dict[str, Any]], answerable: set[str]) -> None:
        texts = []
        for j, block in enumerate(blocks):
            kind = block.get("type")
            at = f"{where}.content.{j}"
            if kind not in USER_BLOCKS:
                raise WireError(400, f"{at}: Input tag '{kind}' is not a valid user content block type")
            if kind == "tool_result":
                self._tool_result(at, block, answerable)
            elif kind == "text":
                texts.append(str(block.get("text", "")))
            else:
                self._media(at, block)
        if texts:
            self.prompt = "".join(texts)
            self.texts.append(self.prompt)

    def _tool_result(self, at: str, block: dict[str, Any], answerable: set[str]) -> None:
        self.has_tool_blocks = True
        ref = str(block.get("tool_use_id"))
        if ref not in answerable:
            raise WireError(
                400,
                f"{at}: unexpected `tool_use_id` found in `tool_result` blocks: {ref}. Each `tool_result` "
                "block must have a corresponding `tool_use` block in the previous message.",
            )
        content = block.get("content")
        if content is None or isinstance(content, str):
            self.texts.append(content or "")
            return
        for k, part in enumerate(_blocks(content, at)):
            kind = part.get("type")
            if kind not in RESULT_BLOCKS:
                raise WireError(400, f"{at}.content.{k}: Input tag '{kind}' is not valid in a tool_result")
            if kind == "text":
                self.texts.append(str(part.get("text", "")))
            else:
                self._media(f"{at}.content.{k}", part)

    def _media(self, at: str, block: dict[str, Any]) -> None:
        kind = block["type"]
        source = block.get("source")
        source_type = source.get("type") if isinstance(source, dict) else None
        if kind == "image":
            if source_type == "base64":
                if source.get("media_type") not in IMAGE_MEDIA_TYPES:  # type: ignore[union-attr]
                    raise WireError(
                        400,
                        f"{at}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
                        "'image/gif' or 'image/webp'",
                    )
                _check_base64(f"{at}.image.source.base64.data", source.get("data"))  # type: ignore[union-attr]
            elif source_type == "url":
                _check_url(f"{at}.image.source.url.url", source.get("url"))  # type: ignore[union-attr]
            else:
                raise WireError(
                    400, f"{at}.image.source: Input tag '{source_type}' does not match 'base64', 'url'"
                )
            self.media.add_image()
            return
        if source_type == "base64":
            if source.get("media_type") != "application/pdf":  # type: ignore[union-attr]
                raise WireError(
                    400, f"{at}.document.source.base64.media_type: Input should be 'application/pdf'"
                )
            data = source.get("data")  # type: ignore[union-attr]
            _check_base64(f"{at}.document.source.base64.data", data)
            self.media.add_file(data)
        elif source_type == "text":
            self.texts.append(str(source.get("data", "")))  # type: ignore[union-attr]
        elif source_type == "url":
            _check_url(f"{at}.document.source.url.url", source.get("url"))  # type: ignore[union-attr]
            self.media.add_file("")
        else:
            raise WireError(
                400, f"{at}.document.source: Input tag '{source_type}' does not match any source type"
            )


def _tool_use_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [str(b.get("id")) for b in blocks if b.get("type") == "tool_use"]


def _check_answered(where: str, uses: list[str], follower: list[dict[str, Any]]) -> None:
    """Every ``tool_use`` of the turn at ``where`` is answered at the start of the next turn."""
    results = []
    for block in follower:
        if block.get("type") != "tool_result":
            break
        results.append(str(block.get("tool_use_id")))
    missing = [u for u in uses if u not in results]
    if missing:
        raise WireError(
            400,
            f"{where}: `tool_use` ids were found without `tool_result` blocks immediately after: "
            f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` "
            "block in the next message.",
        )


def _check_base64(at: str, data: Any) -> None:
    if not isinstance(data, str) or not data:
        raise WireError(400, f"{at}: Field required")
    try:
        base64.b64decode(data[:4096] + "=" * (-len(data[:4096]) % 4), validate=True)
    except ValueError:
        raise WireError(400, f"{at}: The image data is not valid base64") from None


def _check_url(at: str, url: Any) -> None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WireError(400, f"{at}: Only http(s) URLs are supported")


def _tools(body: dict[str, Any]) -> list[SimTool]:
    raw = body.get("tools")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise WireError(400, "tools: Input should be a valid list")
    tools = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict) or tool.get("type", "custom") not in ("custom", None):
            raise WireError(400, f"tools.{i}: only custom tools ({{name, input_schema}}) are simulated")
        if "input_schema" not in tool:
            raise WireError(400, f"tools.{i}.custom.input_schema: Field required")
        try:
            tools.append(check_tool(tool.get("name"), tool["input_schema"]))
        except ToolSchemaError as exc:
            raise WireError(400, f"tools.{i}.custom: {exc}") from None
    if len({t.name for t in tools}) != len(tools):
        raise WireError(400, "tools: Tool names must be unique.")
    return tools


def _tool_choice(body: dict[str, Any], tools: list[SimTool]) -> tuple[str, str | None, bool]:
    """(tool choice, forced tool, parallel tool calls) of ``tool_choice``."""
    raw = body.get("tool_choice")
    if raw is None:
        return "auto", None, True
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in TOOL_CHOICES:
        raise WireError(
            400,
            f"tool_choice: Input tag '{kind}' found using 'type' does not match "
            "'auto', 'any', 'tool', 'none'",
        )
    if kind != "none" and not tools:
        raise WireError(400, "tool_choice: tool_choice may only be specified while providing tools.")
    forced = None
    if kind == "tool":
        forced = raw.get("name")
        if forced not in {t.name for t in tools}:
            raise WireError(400, f"tool_choice.tool.name: tool {forced!r} is not one of the tools provided")
    disable = raw.get("disable_parallel_tool_use", False)
    if not isinstance(disable, bool):
        raise WireError(400, "tool_choice.disable_parallel_tool_use: Input should be a valid boolean")
    return TOOL_CHOICES[kind], forced, not disable


def _thinking(body: dict[str, Any], max_tokens: int | None) -> tuple[bool | None, int | None]:
    thinking = body.get("thinking")
    if thinking is None:
        return None, None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return False, None
    if kind == "adaptive":
        return True, None
    if kind != "enabled":
        raise WireError(
            400,
            f"thinking: Input tag '{kind}' found using 'type' does not match "
            "'enabled', 'disabled', 'adaptive'",
        )
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise WireError(400, "thinking.enabled.budget_tokens: Field required")
    if budget < MIN_THINKING_BUDGET:
        raise WireError(
            400,
            f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}",
        )
    if max_tokens is not None and budget >= max_tokens:
        raise WireError(400, "`max_tokens` must be greater than `thinking.budget_tokens`.")
    return True, budget


def _check_thinking_rules(conversation: _Conversation, tool_choice: str, forced: str | None) -> None:
    if tool_choice == "required" or forced is not None:
        raise WireError(400, "Thinking may not be enabled when tool_choice forces tool use.")
    for at, block in conversation.thinking:
        if not verifies(block):
            raise WireError(400, f"{at}: Invalid `signature` in `thinking` block.")
    blocks = conversation.final_assistant
    if blocks and any(b.get("type") == "tool_use" for b in blocks):
        first = blocks[0].get("type")
        if first not in ("thinking", "redacted_thinking"):
            raise WireError(
                400,
                f"Expected `thinking` or `redacted_thinking`, but found `{first}`. When `thinking` is "
                "enabled, a final `assistant` message must start with a thinking block (preceeding the "
                "lastmost set of `tool_use` and `tool_result` blocks).",
            )


class AnthropicDialect(Dialect):
    api_style: ClassVar[str] = "anthropic"
    key_headers: ClassVar[tuple[str, ...]] = ("x-api-key",)
    id_prefix: ClassVar[str] = "msg_sim"
    call_id_prefix: ClassVar[str] = "toolu_"

    def check_headers(self, request: Request) -> None:
        if not request.headers.get("anthropic-version"):
            raise WireError(400, "anthropic-version: header is required")

    def parse(self, body: Any, request: Request) -> SimCall:
        if not isinstance(body, dict):
            raise WireError(400, "the request body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise WireError(400, "model: Field required")
        if body.get("max_tokens") is None:
            raise WireError(400, "max_tokens: Field required")
        max_tokens = int_or_none(body["max_tokens"], "max_tokens")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise WireError(400, "messages: at least one message is required")
        conversation = _Conversation()
        if body.get("system"):
            conversation.texts.append(text_of(body["system"]))
        conversation.walk(messages)
        tools = _tools(body)
        if conversation.has_tool_blocks and not tools:
            raise WireError(
                400, "Requests which include `tool_use` or `tool_result` blocks must define tools."
            )
        choice, forced, parallel = _tool_choice(body, tools)
        reasoning, budget = _thinking(body, max_tokens)
        if reasoning:
            _check_thinking_rules(conversation, choice, forced)
        elif conversation.ends_with_assistant and any(
            b.get("type") in ("thinking", "redacted_thinking") for b in conversation.final_assistant or ()
        ):
            raise WireError(
                400,
                "When thinking is disabled, an `assistant` message in the final position cannot contain "
                "`thinking`. To use thinking blocks, enable `thinking` in your request.",
            )
        return SimCall(
            api_style=self.api_style,
            model=model,
            prompt=conversation.prompt,
            input_texts=conversation.texts,
            max_tokens=max_tokens,
            stream=bool(body.get("stream")),
            tools=tools,
            tool_choice=choice,
            forced_tool=forced,
            parallel_tool_calls=parallel,
            media=conversation.media,
            ends_with_user=conversation.ends_with_user,
            reasoning=reasoning,
            thinking_budget=budget,
        )

    def count_tokens(self, body: Any, request: Request) -> dict[str, int]:
        """``POST /v1/messages/count_tokens``: the input tokens the same body would be billed
        (text and media, as ``answer.answer_for`` counts them). Like the real endpoint it takes
        no ``max_tokens``, ``stream`` or sampling fields."""
        if isinstance(body, dict):
            for name in sorted(set(body) & COUNT_REFUSED):
                raise WireError(400, f"{name}: Extra inputs are not permitted")
            body = {**body, "max_tokens": MAX_COUNTED_OUTPUT}
        call = self.parse(body, request)
        return {"input_tokens": (sum(count_tokens(t) for t in call.input_texts) or 1) + call.media.total}

    def completion(self, call: SimCall, reply: SimReply, request_id: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if _thinks(call):
            text = reply.reasoning_text
            content.append({"type": "thinking", "thinking": text, "signature": signature(text)})
        if reply.tool_calls:
            content.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.args} for c in reply.tool_calls
            )
        else:
            content.append({"type": "text", "text": reply.text})
        return {
            "id": request_id,
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": content,
            "stop_reason": _stop_reason(reply),
            "stop_sequence": None,
            "usage": anthropic_usage(reply),
        }

    def stream_open(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        usage = anthropic_usage(reply)
        usage["output_tokens"] = 1
        message: dict[str, object] = {
            "id": request_id,
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        blocks: list[Frame] = []
        if _thinks(call):
            text = reply.reasoning_text
            blocks.append(_block_start(0, {"type": "thinking", "thinking": "", "signature": ""}))
            blocks.extend(_block_delta(0, {"type": "thinking_delta", "thinking": w}) for w in _words(text))
            blocks.append(_block_delta(0, {"type": "signature_delta", "signature": signature(text)}))
            blocks.append(_block_stop(0))
        if not reply.tool_calls:
            blocks.append(_block_start(_text_index(call), {"type": "text", "text": ""}))
        ping: Frame = ("ping", {"type": "ping"})
        if not blocks:
            return [("message_start", {"type": "message_start", "message": message}), ping]
        return [
            ("message_start", {"type": "message_start", "message": message}),
            blocks[0],
            ping,
            *blocks[1:],
        ]

    def stream_delta(self, call: SimCall, text: str, request_id: str) -> Frame:
        return _block_delta(_text_index(call), {"type": "text_delta", "text": text})

    def stream_tool_calls(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        frames: list[Frame] = []
        for i, tool_call in enumerate(reply.tool_calls):
            index = _text_index(call) + i  # tool answers have no text block
            start = {"type": "tool_use", "id": tool_call.id, "name": tool_call.name, "input": {}}
            frames.append(_block_start(index, start))
            frames.extend(
                _block_delta(index, {"type": "input_json_delta", "partial_json": piece})
                for piece in json_pieces(tool_call.arguments)
            )
            frames.append(_block_stop(index))
        return frames

    def stream_close(self, call: SimCall, reply: SimReply, request_id: str) -> list[Frame]:
        output = reply.output_tokens + reply.reasoning_tokens
        frames: list[Frame] = [] if reply.tool_calls else [_block_stop(_text_index(call))]
        return [
            *frames,
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                    "usage": {"output_tokens": output},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]

    def error_body(self, status: int, message: str, retry_after: float | None = None) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


def _block_start(index: int, block: dict[str, Any]) -> Frame:
    return ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def _block_delta(index: int, delta: dict[str, Any]) -> Frame:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def _block_stop(index: int) -> Frame:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})
