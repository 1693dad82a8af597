"""A cheap token estimate for budgets and ``max_cost`` checks before the provider has counted.

Providers' tokenizers differ and are not all public; the widely used heuristic of ~4 characters
per token (rounded up, at least one per word-ish chunk) is within a few percent for English and
errs high for code and non-Latin text, which is the safe side for a spending limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def estimate_tokens(text: str | None) -> int:
    if not text:
        return 0
    by_chars = -(-len(text) // 4)
    by_words = len(text.split())
    return max(by_chars, by_words)


MESSAGE_OVERHEAD = 4  # role and separators each chat format adds per message


def estimate_prompt_tokens(messages: Iterable[Any]) -> int:
    """A chat prompt's estimate: each message's content plus its framing."""
    return sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD for m in messages)
