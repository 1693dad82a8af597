"""What a cache keeps of an answer, and the key material that decides when it may be reused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from gateway.providers.types import ChatMessage, ChatRequest, Usage


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    text: str
    finish_reason: str | None
    usage: Usage
    provider: str  # who answered originally (the hit is reported against it, at zero cost)
    model: str
    source_request_id: str

    def to_bytes(self) -> bytes:
        u = self.usage
        return orjson.dumps(
            {
                "text": self.text,
                "finish_reason": self.finish_reason,
                "usage": [u.input_tokens, u.output_tokens, u.cached_input_tokens, u.reasoning_tokens],
                "provider": self.provider,
                "model": self.model,
                "source": self.source_request_id,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes | str) -> CachedAnswer:
        d = orjson.loads(data)
        return cls(d["text"], d["finish_reason"], Usage(*d["usage"]), d["provider"], d["model"], d["source"])


def _params(request: ChatRequest, requested_model: str | None, requested_provider: str | None) -> list:
    """Everything besides the messages that changes the answer (``user`` and ``stream`` do not)."""
    return [
        requested_provider,
        requested_model,
        request.max_tokens,
        request.temperature,
        request.top_p,
        request.stop,
    ]


def _messages(messages: list[ChatMessage]) -> list[list[str]]:
    return [[m.role, m.content] for m in messages]


def exact_key(request: ChatRequest, requested_model: str | None, requested_provider: str | None) -> str:
    """SHA-256 of the normalised request: the parameters that change the answer, every message."""
    doc = [_params(request, requested_model, requested_provider), _messages(request.messages)]
    return hashlib.sha256(orjson.dumps(doc)).hexdigest()


def semantic_split(request: ChatRequest) -> tuple[list[ChatMessage], str] | None:
    """(conversation before the last user turn, the last user turn); None without a user turn."""
    for i in range(len(request.messages) - 1, -1, -1):
        if request.messages[i].role == "user":
            return request.messages[:i] + request.messages[i + 1 :], request.messages[i].content
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
    return hashlib.sha256(orjson.dumps(doc)).digest()
