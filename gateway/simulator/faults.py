"""Injected faults: what to break, for which calls, and how many times.

Faults are matched in the order they were added; the first one whose filters match the call is
consumed (its ``count`` decremented, and removed at zero; ``count: null`` lasts until cleared).
The book is shared between the server's event loop and in-process test code, hence the lock;
the hot path skips it entirely while no fault is set.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal[
    "http_500",
    "http_503",
    "http_429",
    "timeout",
    "garbage_json",
    "broken_stream",
    "latency",
    "context_length",  # the provider's 400 for a prompt over the model's context window
    "bad_output",  # a well-formed answer whose text is not the JSON the request asked for
]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]


class FaultMatch(BaseModel):
    """Optional filters; ``api_style`` ``openai_compatible`` is the same as ``openai`` here."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    api_style: str | None = None


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    match: FaultMatch = Field(default_factory=FaultMatch)
    count: int | None = Field(None, ge=1, description="Calls to affect; null = until cleared.")
    retry_after: float | None = Field(None, ge=0, description="http_429/http_503: retry hint in seconds.")
    latency_ms: float | None = Field(None, ge=0, description="latency: the delay; timeout: the stall.")


@dataclass(slots=True)
class ActiveFault:
    id: int
    spec: FaultSpec
    remaining: int | None
    hits: int = 0

    def matches(self, api_style: str, model: str) -> bool:
        match = self.spec.match
        if match.model is not None and match.model != model:
            return False
        wanted = match.api_style
        if wanted == "openai_compatible":
            wanted = "openai"
        return wanted is None or wanted == api_style

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.model_dump(), "remaining": self.remaining, "hits": self.hits}


class FaultBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[ActiveFault] = []
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec) -> ActiveFault:
        with self._lock:
            fault = ActiveFault(next(self._ids), spec, spec.count)
            self._faults.append(fault)
            return fault

    def take(self, api_style: str, model: str) -> FaultSpec | None:
        """Consume and return the first fault matching this call, if any."""
        if not self._faults:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.matches(api_style, model):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault.spec
        return None

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            for fault in self._faults:
                if fault.id == fault_id:
                    self._faults.remove(fault)
                    return True
        return False

    def clear(self) -> int:
        with self._lock:
            n = len(self._faults)
            self._faults.clear()
            return n

    def active(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults]
