"""Apply a customer's PII mode to a request's messages before any provider sees them.

Modes: ``off`` (do not look), ``flag`` (record the types found), ``redact`` (replace them with
placeholders in what is sent upstream; nothing is restored in the answer), ``block`` (refuse the
request with 422, naming the types found). What a record keeps is ``compliance_flags``
(``pii:<type>``) and ``pii_actions`` (``<action>:<type>``) — never the values.

What is scanned, in every message of the conversation:

- text: string ``content`` and every ``text`` content part, an assistant's replayed ``refusal``
  and ``reasoning``, and the text of its signed thinking blocks (``thinking_blocks``, which go
  back to Anthropic): Anthropic's signature covers that text, so ``redact`` cannot rewrite it and
  leaves a block that holds personal data out instead (that tool turn then goes on without
  thinking, recorded in ``dropped_params``: gateway/providers/thinking.py);
- tool-call ``arguments`` (JSON text): every string and number *value* is scanned on its own,
  so a JSON escape (``\\u0040``) cannot hide an address; ``redact`` replaces the finding inside
  the string value (a number that is personal data becomes the placeholder string) and writes
  the JSON back, so the arguments stay valid JSON. Arguments that are not valid JSON (a model
  may emit that) are scanned and redacted as plain text;
- tool results (``role: "tool"`` content): the same way, as JSON when the result is a JSON
  object or array, else as text.

What is **not** scanned: images, audio and files (``image_url``, ``input_audio``, ``file``
parts — no OCR or transcription happens; they reach the provider as sent), JSON object *keys*
in tool arguments and results, participant ``name``s, tool definitions and ``response_format``
schemas (written by the developer, not by the end user).

How much is scanned: at most ``max_chars`` characters per request (``ONEVAULT_PII_MAX_SCAN_CHARS``),
counted over everything above. A request with more is **refused** under ``redact`` and ``block``
(``ScanLimitExceeded``: nothing unscreened may reach a provider); under ``flag`` the first
``max_chars`` characters are scanned, the rest passes as it would anyway, and the record says so
(``pii:unscanned``). Screening one request costs at most a bounded amount of CPU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from gateway.privacy.pii import PII_TYPES, redact, scan
from gateway.providers.types import ChatMessage, ContentPart, TextPart, ToolCall


class PiiMode(StrEnum):
    OFF = "off"
    FLAG = "flag"
    REDACT = "redact"
    BLOCK = "block"


_ACTION = {PiiMode.FLAG: "flagged", PiiMode.REDACT: "redacted", PiiMode.BLOCK: "blocked"}
UNSCANNED = "unscanned"  # a flag-mode request longer than the cap: its tail was not looked at


class ScanLimitExceeded(ValueError):
    """More text than one request may have screened, under a mode that must see all of it."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} characters to screen; at most {limit} are screened per request")
        self.size, self.limit = size, limit


@dataclass(frozen=True, slots=True)
class PiiScreening:
    mode: PiiMode
    found: tuple[str, ...] = ()
    messages: list[ChatMessage] = field(default_factory=list)
    unscanned: bool = False  # flag mode only: text beyond the cap was not scanned

    @property
    def blocked(self) -> bool:
        return self.mode is PiiMode.BLOCK and bool(self.found)

    @property
    def compliance_flags(self) -> list[str]:
        return [f"pii:{kind}" for kind in self.found] + ([f"pii:{UNSCANNED}"] if self.unscanned else [])

    @property
    def pii_actions(self) -> list[str]:
        if not self.found or self.mode is PiiMode.OFF:
            return []
        return [f"{_ACTION[self.mode]}:{kind}" for kind in self.found]


class _Screener:
    """Scans every scanned field of a conversation, collecting the types found; when
    ``redacting``, returns each field with its findings replaced (unchanged objects are kept)."""

    __slots__ = ("budget", "found", "redacting", "region", "unscanned")

    def __init__(self, region: str, *, redacting: bool, budget: int | None = None) -> None:
        self.region = region
        self.redacting = redacting
        self.found: set[str] = set()
        self.budget = budget  # characters still to scan (None: no cap)
        self.unscanned = False

    def text(self, text: str) -> str:
        if self.budget is not None:
            if len(text) > self.budget:  # flag mode past the cap: the rest goes unscanned
                self.unscanned = True
                head, self.budget = text[: self.budget], 0
                self.found.update(f.kind for f in scan(head, region=self.region))
                return text
            self.budget -= len(text)
        findings = scan(text, region=self.region)
        if not findings:
            return text
        self.found.update(f.kind for f in findings)
        return redact(text, findings) if self.redacting else text

    def json_text(self, text: str) -> str:
        """JSON text: each value scanned on its own; written back only if a value changed."""
        try:
            doc = json.loads(text)
        except ValueError:
            return self.text(text)
        if not isinstance(doc, dict | list):
            return self.text(text)  # a bare scalar: the text as written
        screened = self._value(doc)
        if not self.redacting or screened == doc:
            return text
        return json.dumps(screened, ensure_ascii=False)

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            written = json.dumps(value)
            screened = self.text(written)
            return value if screened == written else screened
        if isinstance(value, list):
            return [self._value(v) for v in value]
        return {k: self._value(v) for k, v in value.items()}

    def _content(
        self, content: str | list[ContentPart] | None, *, as_json: bool
    ) -> str | list[ContentPart] | None:
        scan_text = self.json_text if as_json else self.text
        if content is None:
            return None
        if isinstance(content, str):
            return scan_text(content)
        out: list[ContentPart] = []
        for part in content:
            if isinstance(part, TextPart):
                text = scan_text(part.text)
                out.append(part if text == part.text else replace(part, text=text))
            else:
                out.append(part)  # images, audio, files: not scanned
        return out if any(a is not b for a, b in zip(out, content, strict=True)) else content

    def _call(self, call: ToolCall) -> ToolCall:
        arguments = self.json_text(call.arguments)
        return call if arguments == call.arguments else replace(call, arguments=arguments)

    def _optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def _thinking(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Signed blocks whose text holds nothing to redact (module docstring)."""
        kept = [b for b in blocks if self.text(str(b.get("thinking") or "")) == str(b.get("thinking") or "")]
        return blocks if len(kept) == len(blocks) else kept

    def message(self, m: ChatMessage) -> ChatMessage:
        content = self._content(m.content, as_json=m.role == "tool")
        calls = [self._call(c) for c in m.tool_calls]
        refusal, reasoning = self._optional(m.refusal), self._optional(m.reasoning)
        thinking = self._thinking(m.thinking_blocks) if m.thinking_blocks else m.thinking_blocks
        if (
            content is m.content
            and all(a is b for a, b in zip(calls, m.tool_calls, strict=True))
            and refusal is m.refusal
            and reasoning is m.reasoning
            and thinking is m.thinking_blocks
        ):
            return m
        return replace(
            m,
            content=content,
            tool_calls=calls,
            refusal=refusal,
            reasoning=reasoning,
            thinking_blocks=thinking,
        )


def scanned_chars(messages: list[ChatMessage]) -> int:
    """How many characters screening would read (tool-call arguments and results counted whole)."""
    total = 0
    for m in messages:
        content = m.content
        if isinstance(content, str):
            total += len(content)
        elif content is not None:
            total += sum(len(p.text) for p in content if isinstance(p, TextPart))
        total += sum(len(c.arguments) for c in m.tool_calls)
        total += len(m.refusal or "") + len(m.reasoning or "")
        total += sum(len(str(b.get("thinking") or "")) for b in m.thinking_blocks)
    return total


def screen(
    messages: list[ChatMessage], mode: PiiMode | str, *, region: str = "US", max_chars: int | None = None
) -> PiiScreening:
    """Scan every message; with ``redact``, return copies of the messages that held personal data.

    ``max_chars``: the most text scanned (module docstring); over it, ``redact`` and ``block``
    raise ``ScanLimitExceeded`` before scanning anything."""
    mode = PiiMode(mode)
    if mode is PiiMode.OFF:
        return PiiScreening(mode, (), messages)
    budget = None
    if max_chars is not None and (size := scanned_chars(messages)) > max_chars:
        if mode is not PiiMode.FLAG:
            raise ScanLimitExceeded(size, max_chars)
        budget = max_chars
    screener = _Screener(region, redacting=mode is PiiMode.REDACT, budget=budget)
    screened = [screener.message(m) for m in messages]
    found = tuple(k for k in PII_TYPES if k in screener.found)
    return PiiScreening(
        mode, found, screened if mode is PiiMode.REDACT else messages, unscanned=screener.unscanned
    )
