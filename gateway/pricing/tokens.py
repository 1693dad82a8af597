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


# Worst-case estimates for media (budgets and max_cost reserve on these; the provider's own
# count is what is billed): an image at the largest tile count the big providers charge, audio
# and documents by their base64 size.
IMAGE_ESTIMATE = 1600
B64_CHARS_PER_TOKEN = 4


def estimate_message_tokens(m: Any) -> int:
    """One canonical message: its text, tool-call arguments and media, plus framing."""
    content = m.content
    if isinstance(content, str) or content is None:
        n = estimate_tokens(content)
    else:
        n = 0
        for part in content:
            kind = part.type
            if kind == "text":
                n += estimate_tokens(part.text)
            elif kind == "image":
                n += IMAGE_ESTIMATE
            else:
                data = getattr(part, "data", None) or ""
                n += max(1, len(data) // B64_CHARS_PER_TOKEN)
    for call in getattr(m, "tool_calls", None) or ():
        n += estimate_tokens(call.arguments) + estimate_tokens(call.name)
    return n + MESSAGE_OVERHEAD


def estimate_prompt_tokens(messages: Iterable[Any], tools: Iterable[Any] = ()) -> int:
    """A chat prompt's estimate: each message plus its framing, and the tool definitions."""
    total = sum(estimate_message_tokens(m) for m in messages)
    for tool in tools:
        total += estimate_tokens(tool.name) + estimate_tokens(tool.description)
        if tool.parameters:
            total += estimate_tokens(str(tool.parameters))
    return total
