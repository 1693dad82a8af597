"""Deterministic answers and token counts: the same request always gets the same reply.

One output token is one word piece of the reply (so streams split exactly at token bounds and
reported counts match what was sent); input tokens are about four characters each.
"""

from __future__ import annotations

import dataclasses
import math
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from gateway.simulator.config import SimulatorConfig
from gateway.simulator.toolgen import MediaTokens, SimToolCall

REASONING_MARKERS: Final = ("o1", "o3", "o4-", "reasoning", "thinking")
PREFIX: Final = "Simulated reply to:"
PROMPT_ECHO_CHARS: Final = 40
_WORDS: Final = (
    *("vault", "ledger", "hub", "link", "satellite", "gateway", "token", "budget", "route"),
    *("provider", "cost", "invoice", "record", "stream", "latency", "cache", "tenant", "audit"),
    *("insert", "history", "model", "answer", "window", "mart", "chargeback"),
)
_SPACES = re.compile(r"\s+")


def count_tokens(text: str) -> int:
    """About one token per four characters, at least one."""
    return max(1, (len(text) + 3) // 4)


def is_reasoning_model(model: str) -> bool:
    name = model.lower()
    return any(marker in name for marker in REASONING_MARKERS)


@dataclass(slots=True, frozen=True)
class SimReply:
    pieces: tuple[str, ...]  # one per visible output token
    input_tokens: int  # the whole prompt, cached part included
    cached_tokens: int
    reasoning_tokens: int  # hidden, on top of the visible pieces
    truncated: bool  # max_tokens stopped it short of the configured length
    tool_calls: tuple[SimToolCall, ...] = ()  # when set, the answer is these calls (pieces empty)
    reasoning_text: str = ""  # a visible thinking summary, for wires that return one
    media: MediaTokens | None = None  # the part of input_tokens that was images, audio, files

    @property
    def finish(self) -> str:
        """tool_calls | length | stop (OpenAI's words; each wire maps them to its own)."""
        if self.tool_calls:
            return "tool_calls"
        return "length" if self.truncated else "stop"

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    extra_output_tokens: int = 0  # tool-call arguments, which are not text pieces

    @property
    def output_tokens(self) -> int:
        return len(self.pieces) + self.extra_output_tokens

    def _with_output(self, extra: int) -> SimReply:
        return dataclasses.replace(self, extra_output_tokens=extra)


def make_reply(
    prompt: str,
    input_texts: Iterable[str],
    model: str,
    max_tokens: int | None,
    config: SimulatorConfig,
    *,
    reasoning: bool | None = None,
) -> SimReply:
    """The reply to ``prompt`` (the last user turn); ``input_texts`` are all prompt texts.
    ``reasoning`` True/False overrides whether the model thinks (the request asked for it)."""
    input_tokens = sum(count_tokens(text) for text in input_texts) or 1
    thinks = is_reasoning_model(model) if reasoning is None else reasoning
    ratio = config.reasoning_ratio if thinks else 0.0
    visible = config.output_tokens
    reasoning_tokens = math.ceil(visible * ratio)
    truncated = max_tokens is not None and visible + reasoning_tokens > max_tokens
    if max_tokens is not None and truncated:
        # Like the real APIs, max_tokens bounds hidden reasoning and visible text together.
        reasoning_tokens = min(reasoning_tokens, int(max_tokens * ratio / (1 + ratio)))
        visible = max(1, max_tokens - reasoning_tokens)
    echo = _SPACES.sub(" ", prompt[:PROMPT_ECHO_CHARS]).strip()
    return SimReply(
        pieces=_pieces(echo, visible, config.seed),
        input_tokens=input_tokens,
        cached_tokens=int(input_tokens * config.cached_fraction),
        reasoning_tokens=reasoning_tokens,
        truncated=truncated,
    )


@lru_cache(maxsize=1024)
def _pieces(echo: str, n: int, seed: int) -> tuple[str, ...]:
    words = [*PREFIX.split(), *echo.split()]
    start = zlib.crc32(echo.encode()) ^ seed
    while len(words) < n:
        words.append(_WORDS[(start + 7 * len(words)) % len(_WORDS)])
    return tuple(word if i == 0 else f" {word}" for i, word in enumerate(words[:n]))
