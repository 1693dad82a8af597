"""Anthropic's signed thinking state, carried opaquely through the canonical model.

Anthropic signs each ``thinking`` block of an answer (``signature``) and may answer
``redacted_thinking`` blocks (``data``, encrypted). With extended thinking and tool use, the
next request must hold the signed blocks of the assistant turn that called tools, unmodified,
first in that turn — else the API answers 400. So the blocks travel as Anthropic returned them
(``ChatMessage.thinking_blocks``, ``ChatResponse.thinking_blocks``, ``StreamChunk``): every
door returns them to its client in its own spelling and takes them back; only the Anthropic
adapter reads them, every other adapter ignores them (reasoning text is ``reasoning``).

A door that shows another provider's reasoning as a thinking block (the Messages door) signs it
with ``MARKER_SIGNATURE``; such a block is reasoning text, never signed state, and is never sent
to Anthropic. The Responses door carries the blocks in a reasoning item's ``encrypted_content``
(``encode_blocks`` / ``decode_blocks``): OneVault's own opaque format, prefixed so it is never
mistaken for another gateway's (or OpenAI's) encrypted reasoning.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:
    from gateway.providers.types import ChatRequest

MARKER_SIGNATURE: Final = "onevault"  # a thinking block OneVault made from reasoning text: not signed
ENCRYPTED_PREFIX: Final = "onevault.thinking.v1:"
THINKING_OPTIONS: Final = ("reasoning_effort", "thinking_budget")


def is_signed(block: Any) -> bool:
    """A block Anthropic can take back: ``thinking`` with a real signature, or ``redacted_thinking``."""
    if not isinstance(block, dict):
        return False
    if block.get("type") == "thinking":
        signature = block.get("signature")
        return isinstance(signature, str) and bool(signature) and signature != MARKER_SIGNATURE
    return block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str)


def signed(blocks: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The blocks of ``blocks`` that are Anthropic's signed state, in order."""
    return [b for b in blocks or () if is_signed(b)]


def thinking_text(blocks: list[dict[str, Any]]) -> str:
    return "".join(str(b.get("thinking") or "") for b in blocks if b.get("type") == "thinking")


def encode_blocks(blocks: list[dict[str, Any]]) -> str | None:
    """The blocks as a reasoning item's ``encrypted_content`` (None: nothing signed to carry)."""
    kept = signed(blocks)
    if not kept:
        return None
    return ENCRYPTED_PREFIX + base64.urlsafe_b64encode(orjson.dumps(kept)).decode()


def decode_blocks(content: str | None) -> list[dict[str, Any]]:
    """The blocks ``encode_blocks`` wrote; [] for anything else (another party's encrypted
    reasoning, which no provider behind OneVault could read)."""
    if not content or not content.startswith(ENCRYPTED_PREFIX):
        return []
    try:
        doc = orjson.loads(base64.urlsafe_b64decode(content[len(ENCRYPTED_PREFIX) :]))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return []
    return signed(doc) if isinstance(doc, list) else []


def thinking_requested(request: ChatRequest) -> bool:
    return request.reasoning_effort != "none" and request.thinking_tokens() is not None


def continues_unsigned_tool_turn(request: ChatRequest) -> bool:
    """Anthropic needs the signed thinking of the last assistant turn when that turn called tools;
    True when that state is missing (the turn came from another provider, or the client dropped
    its blocks), so thinking cannot be sent with this conversation."""
    for message in reversed(request.messages):
        if message.role == "assistant":
            return bool(message.tool_calls) and not signed(message.thinking_blocks)
    return False


def forced_drops(request: ChatRequest) -> tuple[str, ...]:
    """The thinking options Anthropic's protocol forces OneVault to leave out of ``request``."""
    if not thinking_requested(request) or not continues_unsigned_tool_turn(request):
        return ()
    return tuple(name for name in THINKING_OPTIONS if getattr(request, name) is not None)
