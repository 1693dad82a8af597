"""Apply a customer's PII mode to a request's messages before any provider sees them.

Modes: ``off`` (do not look), ``flag`` (record the types found), ``redact`` (replace them with
placeholders in what is sent upstream; nothing is restored in the answer), ``block`` (refuse the
request with 422, naming the types found). What a record keeps is ``compliance_flags``
(``pii:<type>``) and ``pii_actions`` (``<action>:<type>``) — never the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from gateway.privacy.pii import Finding, kinds, redact, scan
from gateway.providers.types import ChatMessage


class PiiMode(StrEnum):
    OFF = "off"
    FLAG = "flag"
    REDACT = "redact"
    BLOCK = "block"


_ACTION = {PiiMode.FLAG: "flagged", PiiMode.REDACT: "redacted", PiiMode.BLOCK: "blocked"}


@dataclass(frozen=True, slots=True)
class PiiScreening:
    mode: PiiMode
    found: tuple[str, ...] = ()
    messages: list[ChatMessage] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return self.mode is PiiMode.BLOCK and bool(self.found)

    @property
    def compliance_flags(self) -> list[str]:
        return [f"pii:{kind}" for kind in self.found]

    @property
    def pii_actions(self) -> list[str]:
        if not self.found or self.mode is PiiMode.OFF:
            return []
        return [f"{_ACTION[self.mode]}:{kind}" for kind in self.found]


def screen(messages: list[ChatMessage], mode: PiiMode | str, *, region: str = "US") -> PiiScreening:
    """Scan every message; with ``redact``, return copies with each finding replaced."""
    mode = PiiMode(mode)
    if mode is PiiMode.OFF:
        return PiiScreening(mode, (), messages)
    per_message: list[list[Finding]] = [scan(m.content, region=region) for m in messages]
    found = tuple(kinds(f for findings in per_message for f in findings))
    if mode is PiiMode.REDACT and found:
        messages = [
            replace(m, content=redact(m.content, findings)) if findings else m
            for m, findings in zip(messages, per_message, strict=True)
        ]
    return PiiScreening(mode, found, messages)
