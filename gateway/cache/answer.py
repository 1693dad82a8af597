"""What a cache keeps of an answer, and the key material that decides when it may be reused.

Both keys are built from the canonical JSON of the request (``gateway.providers.canonical_json``)
with media by digest, so *everything* that can change the answer is in them: every message with
every content part (an image, audio clip or file by the SHA-256 of its URL or data), tool calls
and tool results, the tools offered, ``tool_choice``, ``parallel_tool_calls``,
``response_format``, the reasoning effort and thinking budget, ``seed``, penalties, logprobs.
Left out is only what cannot change it (``_NOT_IN_KEY``): a new option is keyed by default,
which can cost a miss but never serves a wrong answer.

The semantic cache compares the *last user turn* by meaning, so it only applies when that turn
is plain text and nothing (tool results) follows it; any other request uses the exact cache.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from gateway.providers.canonical_json import (
    dumps,
    messages_to_json,
    options_to_json,
    response_to_json,
    tool_calls_from_json,
)
from gateway.providers.types import ChatMessage, ChatRequest, TextPart, ToolCall, Usage

# The provider's model name is replaced by what the client asked for (the key must not depend
# on which candidate would serve); stream and the end user's id do not change the answer, nor do
# the provider's stored metadata or its service tier (speed and price, not content).
_NOT_IN_KEY = ("model", "stream", "user", "metadata", "service_tier")
_USAGE_FIELDS = tuple(f.name for f in fields(Usage))


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    text: str
    finish_reason: str | None
    usage: Usage
    provider: str  # who answered originally (the hit is reported against it, at zero cost)
    model: str
    source_request_id: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    reasoning: str | None = None
    logprobs: list[dict[str, Any]] | None = None
    thinking_blocks: list[dict[str, Any]] = field(default_factory=list)  # Anthropic's signed thinking

    def to_bytes(self) -> bytes:
        u = self.usage
        return orjson.dumps(
            {
                **response_to_json(self),
                "usage": [getattr(u, name) for name in _USAGE_FIELDS],
                "provider": self.provider,
                "model": self.model,
                "source": self.source_request_id,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes | str) -> CachedAnswer:
        """Entries written before tool calls were cached have only text and four usage counts."""
        d = orjson.loads(data)
        return cls(
            d["text"],
            d["finish_reason"],
            Usage(*d["usage"]),
            d["provider"],
            d["model"],
            d["source"],
            tool_calls_from_json(d.get("tool_calls")),
            d.get("refusal"),
            d.get("reasoning"),
            d.get("logprobs"),
            list(d.get("thinking_blocks") or ()),
        )


def _params(request: ChatRequest, requested_model: str | None, requested_provider: str | None) -> list:
    """Everything besides the messages that changes the answer."""
    options = {k: v for k, v in options_to_json(request).items() if k not in _NOT_IN_KEY}
    return [requested_provider, requested_model, options]


def _messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return messages_to_json(messages, media="digest")


def exact_key(request: ChatRequest, requested_model: str | None, requested_provider: str | None) -> str:
    """SHA-256 of the normalised request: the parameters that change the answer, every message."""
    doc = [_params(request, requested_model, requested_provider), _messages(request.messages)]
    return hashlib.sha256(dumps(doc)).hexdigest()


def _text_only(message: ChatMessage) -> bool:
    return isinstance(message.content, str) or (
        isinstance(message.content, list) and all(isinstance(p, TextPart) for p in message.content)
    )


def semantic_split(request: ChatRequest) -> tuple[list[ChatMessage], str] | None:
    """(conversation without the last user turn, that turn's text); None when there is no user
    turn, when it holds media, or when tool results follow it (then only the exact cache applies)."""
    messages = request.messages
    for i in range(len(messages) - 1, -1, -1):
        turn = messages[i]
        if turn.role == "tool":
            return None
        if turn.role == "user":
            if not _text_only(turn) or not turn.text:
                return None
            return messages[:i] + messages[i + 1 :], turn.text
    return None


def semantic_scope(
    request: ChatRequest,
    requested_model: str | None,
    requested_provider: str | None,
    context: list[ChatMessage],
    embedding_model: str,
) -> bytes:
    """What must match exactly for a semantic hit: parameters, the rest of the conversation and
    the embedding model (vectors of different models are not comparable)."""
    doc = [_params(request, requested_model, requested_provider), _messages(context), embedding_model]
    return hashlib.sha256(dumps(doc)).digest()
