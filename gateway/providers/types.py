"""The canonical, provider-neutral shapes every adapter speaks.

Token conventions (the same for every adapter, so costing never needs to know the provider):

- ``input_tokens`` is the *whole* prompt as billed, cached reads included. Providers that
  report cached reads separately (Anthropic's ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``, Cohere's ``cached_tokens``) are added back in.
- ``cached_input_tokens`` is the part of ``input_tokens`` served from the provider's prompt cache.
- ``output_tokens`` is everything generated, hidden reasoning included (OpenAI's
  ``completion_tokens`` already is; Gemini's ``thoughtsTokenCount`` is added to
  ``candidatesTokenCount``).
- ``reasoning_tokens`` is the part of ``output_tokens`` spent on hidden reasoning, where the
  provider reports it (OpenAI, Azure OpenAI, Gemini; Anthropic folds thinking into output).

``finish_reason`` uses OpenAI's vocabulary (``stop``, ``length``, ``tool_calls``,
``content_filter``); adapters translate their provider's values and pass unknown ones through
lower-cased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ERROR_CLASSES: Final = frozenset(
    {
        "rate_limited",
        "server_error",
        "timeout",
        "connection",
        "bad_request",
        "auth",
        "not_found",
        "bad_response",
        "stream_broken",
        "circuit_open",  # not a call: every candidate was cooling down after repeated failures
    }
)
RETRYABLE_ERROR_CLASSES: Final = frozenset(
    {"rate_limited", "server_error", "timeout", "connection", "stream_broken"}
)


@dataclass(slots=True)
class ChatMessage:
    role: str  # system | user | assistant | tool
    content: str


@dataclass(slots=True)
class ChatRequest:
    model: str  # the provider's model name (Azure OpenAI: looked up in the endpoint's deployments)
    messages: list[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    stream: bool = False
    user: str | None = None
    stop: list[str] | None = None
    top_p: float | None = None


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class ChatResponse:
    text: str
    finish_reason: str | None
    usage: Usage
    model: str  # as the provider reports it (falls back to the requested model)
    provider_request_id: str | None = None


@dataclass(slots=True)
class EmbeddingRequest:
    """Texts to embed. ``purpose`` is what the vectors are for: providers that tune embeddings
    by task (Gemini ``taskType``, Cohere ``input_type``) get ``query`` or ``document``;
    ``dimensions`` asks models that can shorten their vectors (OpenAI text-embedding-3, Gemini,
    Cohere embed-v4) for that many."""

    model: str
    inputs: list[str]
    dimensions: int | None = None
    purpose: str = "query"  # query | document
    user: str | None = None


@dataclass(slots=True)
class EmbeddingResponse:
    vectors: list[list[float]]  # one per input, in input order
    usage: Usage  # input tokens only
    model: str


@dataclass(slots=True)
class StreamChunk:
    """One piece of a streamed answer; ``usage`` appears only on the final chunk(s)."""

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


class ProviderError(Exception):
    """An upstream failure, classified so the pipeline can decide to retry or fail over.

    The message is safe to record: it never holds the API key or prompt text, only our own
    description plus the provider's error message (scrubbed and truncated).
    """

    def __init__(
        self,
        error_class: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        if error_class not in ERROR_CLASSES:
            raise ValueError(f"unknown provider error class {error_class!r}")
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.error_class in RETRYABLE_ERROR_CLASSES

    def __reduce__(self) -> tuple[object, ...]:  # keep the keyword-only fields through pickling
        return (_rebuild_error, (self.error_class, self.message, self.status, self.retry_after))

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.error_class!r}, {self.message!r}, status={self.status!r}, "
            f"retry_after={self.retry_after!r})"
        )


def _rebuild_error(
    error_class: str, message: str, status: int | None, retry_after: float | None
) -> ProviderError:
    return ProviderError(error_class, message, status=status, retry_after=retry_after)
