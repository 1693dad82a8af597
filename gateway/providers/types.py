"""The canonical, provider-neutral shapes every door translates into and every adapter speaks.

Token conventions (the same for every adapter, so costing never needs to know the provider):

- ``input_tokens`` is the *whole* prompt as billed, cached reads and cache writes included.
  Providers that report those separately (Anthropic's ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``, Cohere's ``cached_tokens``) are added back in.
- ``cached_input_tokens`` is the part of ``input_tokens`` served from the provider's prompt cache;
  ``cache_write_tokens`` the part written to it (Anthropic prices writes above plain input);
  ``audio_input_tokens`` / ``image_input_tokens`` the parts that were audio or images, where the
  provider reports them (OpenAI ``prompt_tokens_details.audio_tokens``, Gemini
  ``promptTokensDetails`` by modality).
- ``output_tokens`` is everything generated, hidden reasoning included (OpenAI's
  ``completion_tokens`` already is; Gemini's ``thoughtsTokenCount`` is added to
  ``candidatesTokenCount``).
- ``reasoning_tokens`` is the part of ``output_tokens`` spent on hidden reasoning, where the
  provider reports it (OpenAI, Azure OpenAI, Gemini; Anthropic where it reports
  ``output_tokens_details.thinking_tokens``, else thinking is inside output only).

``finish_reason`` uses OpenAI's vocabulary (``stop``, ``length``, ``tool_calls``,
``content_filter``); adapters translate their provider's values and pass unknown ones through
lower-cased.

Messages follow OpenAI's Chat Completions model, the superset the doors share: ``content`` is a
string, a list of parts or None (an assistant turn that only called tools); assistant turns carry
``tool_calls``; ``tool`` turns answer one call by ``tool_call_id``. Tool-call ``arguments`` are
the JSON text the model produced, passed through unparsed (a model may emit invalid JSON, and
rewriting it would change what the client receives).

Reasoning is text (``reasoning``) every door can show; Anthropic's *signed* thinking, which it
needs back to continue a tool-calling turn, rides beside it as opaque ``thinking_blocks`` on
assistant turns, answers and stream chunks (gateway/providers/thinking.py).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Final, Literal

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
        "invalid_output",  # the answer failed the request's json_schema (output validation)
    }
)
RETRYABLE_ERROR_CLASSES: Final = frozenset(
    {"rate_limited", "server_error", "timeout", "connection", "stream_broken"}
)

ROLES: Final = ("system", "developer", "user", "assistant", "tool")
REASONING_EFFORTS: Final = ("none", "minimal", "low", "medium", "high")
# Thinking budget (tokens) for providers that take a budget instead of an effort
# (Anthropic ``thinking.budget_tokens``, Gemini ``thinkingBudget``, Cohere ``token_budget``).
THINKING_BUDGETS: Final = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}


# -- content parts ------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class TextPart:
    text: str
    type: Literal["text"] = "text"


@dataclass(slots=True, frozen=True)
class ImagePart:
    """An image by http(s) URL or ``data:<media type>;base64,<data>`` URL."""

    url: str
    detail: str | None = None  # auto | low | high (OpenAI); others ignore it
    type: Literal["image"] = "image"

    @property
    def is_data(self) -> bool:
        return self.url.startswith("data:")

    def inline(self) -> tuple[str, str] | None:
        """(media type, base64 data) of a data URL; None for a remote URL."""
        return parse_data_url(self.url) if self.is_data else None


@dataclass(slots=True, frozen=True)
class AudioPart:
    data: str  # base64
    format: str  # wav | mp3 | ...
    type: Literal["audio"] = "audio"

    @property
    def media_type(self) -> str:
        return {"mp3": "audio/mpeg", "wav": "audio/wav"}.get(self.format, f"audio/{self.format}")


@dataclass(slots=True, frozen=True)
class FilePart:
    """A document (e.g. a PDF) inline as base64, or a provider file id."""

    data: str | None = None  # base64, without the data: prefix
    media_type: str = "application/pdf"
    filename: str | None = None
    file_id: str | None = None
    type: Literal["file"] = "file"


ContentPart = TextPart | ImagePart | AudioPart | FilePart
MODALITY_OF: Final = {"text": "text", "image": "image", "audio": "audio", "file": "file"}


def parse_data_url(url: str) -> tuple[str, str]:
    """``data:image/png;base64,AAAA`` → ("image/png", "AAAA"); ValueError for anything else."""
    head, sep, data = url.partition(",")
    if not sep or not head.startswith("data:") or not head.endswith(";base64"):
        raise ValueError("a data URL must look like data:<media type>;base64,<data>")
    media_type = head[5:-7] or "application/octet-stream"
    try:
        base64.b64decode(data[:4096] + "=" * (-len(data[:4096]) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the data URL's payload is not base64") from None
    return media_type, data


# -- tools and structured output ------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Tool:
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


@dataclass(slots=True, frozen=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "function"]
    name: str | None = None  # mode == "function": the one tool to call


@dataclass(slots=True, frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model produced it


@dataclass(slots=True, frozen=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None
    description: str | None = None


@dataclass(slots=True)
class ChatMessage:
    role: str  # system | developer | user | assistant | tool
    content: str | list[ContentPart] | None = ""
    name: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None  # role == "tool": the call this answers
    refusal: str | None = None  # assistant: a refusal being replayed
    # assistant: the reasoning text OneVault returned (``reasoning_content``), replayed by the
    # client. Kept in the conversation (retention, caches); not sent back upstream, because no
    # provider takes prior reasoning as plain text (Anthropic needs its signed thinking blocks).
    reasoning: str | None = None
    # tool: the result reports a failure (Anthropic ``tool_result.is_error``, which its adapter
    # sends back); wires without such a flag carry the result's content, which says what failed.
    is_error: bool = False
    # assistant: Anthropic's signed ``thinking`` / ``redacted_thinking`` blocks of this turn,
    # exactly as Anthropic returned them (gateway/providers/thinking.py); only the Anthropic
    # adapter sends them back, every other provider ignores them.
    thinking_blocks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The message's text: the string content, or its text parts joined."""
        content = self.content
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        return "".join(p.text for p in content if isinstance(p, TextPart))

    def parts(self) -> list[ContentPart]:
        content = self.content
        if content is None or content == "":
            return []
        return [TextPart(content)] if isinstance(content, str) else list(content)

    @property
    def is_instruction(self) -> bool:
        """System and developer turns: what providers without a developer role put in the system prompt."""
        return self.role in ("system", "developer")


# Request options that are forwarded to the provider when set; each adapter declares which of
# them it can honour (gateway/providers/capabilities.py) so nothing is silently dropped.
OPTION_FIELDS: Final = (
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "thinking_budget",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "n",
    "service_tier",
    "metadata",
    "store",
)


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
    top_k: int | None = None
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None  # none | minimal | low | medium | high
    thinking_budget: int | None = None  # tokens; wins over the effort's default budget
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    n: int | None = None
    service_tier: str | None = None
    metadata: dict[str, str] | None = None  # forwarded to providers that store it (OpenAI)
    store: bool | None = None  # OpenAI: keep the completion at OpenAI (its metadata needs this)
    # Headers the client sent for a provider's own API, lower-case name -> value (the Messages
    # door's ``anthropic-version`` / ``anthropic-beta``). An adapter sends only those of its own
    # wire (the Anthropic adapter: ``anthropic-*``); not an option, so never a capability gap.
    provider_headers: dict[str, str] | None = None

    def options_set(self) -> list[str]:
        """The forwarded options this request gives (a value that asks for something)."""
        out = []
        for name in OPTION_FIELDS:
            value = getattr(self, name)
            if value is None or value == [] or value == {}:
                continue
            if name in ("logprobs", "store") and value is False:
                continue
            if name == "n" and value == 1:
                continue
            if name == "response_format" and value.type == "text":
                continue
            if name == "tool_choice" and value.mode == "auto":
                continue
            out.append(name)
        return out

    def input_modalities(self) -> list[str]:
        """The kinds of content the prompt holds, text first (``text``, ``image``, ``audio``, ``file``)."""
        seen = {"text"}
        for m in self.messages:
            if isinstance(m.content, list):
                seen.update(p.type for p in m.content)
        return [k for k in ("text", "image", "audio", "file") if k in seen]

    def thinking_tokens(self) -> int | None:
        """The thinking budget asked for (explicit, else from the effort), None when not asked."""
        if self.thinking_budget is not None:
            return self.thinking_budget
        if self.reasoning_effort is None or self.reasoning_effort == "none":
            return None
        return THINKING_BUDGETS[self.reasoning_effort]

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def without(self, names: list[str]) -> ChatRequest:
        """A copy with the named options unset (``drop_unsupported_params``)."""
        unset: dict[str, Any] = {
            f.name: f.default_factory() if f.default_factory is not MISSING else f.default
            for f in fields(self)
            if f.name in names
        }
        return replace(self, **unset)


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    audio_input_tokens: int = 0
    image_input_tokens: int = 0

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
    tool_calls: list[ToolCall] = field(default_factory=list)
    refusal: str | None = None
    reasoning: str | None = None  # Anthropic thinking, Gemini thought parts, reasoning_content
    logprobs: list[dict[str, Any]] | None = None  # OpenAI's logprobs.content shape
    # Anthropic's signed thinking blocks as it returned them (gateway/providers/thinking.py)
    thinking_blocks: list[dict[str, Any]] = field(default_factory=list)


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
    # Pre-tokenised inputs (OpenAI accepts arrays of token ids; LangChain's OpenAIEmbeddings
    # sends them by default). When set they are what is sent, one per entry of ``inputs``
    # (which then only stand in for sizing); wires that take only text refuse them.
    token_inputs: list[list[int]] | None = None


@dataclass(slots=True)
class EmbeddingResponse:
    vectors: list[list[float]]  # one per input, in input order
    usage: Usage  # input tokens only
    model: str


@dataclass(slots=True)
class ImageRequest:
    """Images to generate from a text prompt. ``size`` is ``WIDTHxHEIGHT`` (or ``auto``) and
    ``quality`` the provider's word for it (``low|medium|high|auto`` for GPT image models,
    ``standard|hd`` for DALL-E); None leaves either to the provider's default."""

    model: str
    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    user: str | None = None


@dataclass(slots=True, frozen=True)
class GeneratedImage:
    """One image: base64 bytes (what OneVault asks every provider for), else the provider's URL."""

    b64_json: str | None = None
    url: str | None = None
    media_type: str = "image/png"
    revised_prompt: str | None = None


@dataclass(slots=True)
class ImageResponse:
    images: list[GeneratedImage]
    usage: Usage  # tokens where the provider bills images by tokens (GPT image models), else zeros
    model: str
    size: str | None = None  # as the provider reports it (else as asked)
    quality: str | None = None
    provider_request_id: str | None = None


@dataclass(slots=True, frozen=True)
class ToolCallDelta:
    """A piece of a streamed tool call. Each call has a stable ``index`` (0, 1, ... in the order
    the model made them); its first delta carries ``id`` and ``name``, later ones only pieces of
    ``arguments`` (OpenAI's ``delta.tool_calls`` contract, which every adapter produces)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class StreamChunk:
    """One piece of a streamed answer; ``usage`` appears only on the final chunk(s).

    ``thinking_blocks`` carries each signed thinking block whole, once it is complete (Anthropic
    streams a block's text as ``thinking_delta``s, which arrive as ``reasoning``, and its
    signature last); a ``redacted_thinking`` block arrives whole at its start."""

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: list[ToolCallDelta] | None = None
    reasoning: str = ""
    refusal: str = ""
    logprobs: list[dict[str, Any]] | None = None
    thinking_blocks: list[dict[str, Any]] | None = None

    @property
    def has_content(self) -> bool:
        """Whether this chunk carries anything for the client (text, tool call, reasoning, refusal)."""
        return bool(self.delta or self.tool_calls or self.reasoning or self.refusal or self.thinking_blocks)


class ToolCallAssembler:
    """Joins streamed ``ToolCallDelta``s back into whole ``ToolCall``s (for costing, caching,
    validation and the vault), in index order."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, arguments]

    def add(self, deltas: list[ToolCallDelta] | None) -> None:
        for d in deltas or ():
            call = self._calls.setdefault(d.index, ["", "", ""])
            if d.id:
                call[0] = d.id
            if d.name:
                call[1] = d.name
            call[2] += d.arguments

    def calls(self) -> list[ToolCall]:
        return [ToolCall(c[0], c[1], c[2]) for _, c in sorted(self._calls.items())]


class ProviderError(Exception):
    """An upstream failure, classified so the pipeline can decide to retry or fail over.

    The message is safe to record: it never holds the API key or prompt text, only our own
    description plus the provider's error message (scrubbed and truncated). ``code`` and
    ``param`` are the provider's own (e.g. ``context_length_exceeded`` / ``messages``), kept so
    the client's SDK sees the same error it would have seen from the provider.
    """

    def __init__(
        self,
        error_class: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        param: str | None = None,
        details: Any = None,
    ) -> None:
        if error_class not in ERROR_CLASSES:
            raise ValueError(f"unknown provider error class {error_class!r}")
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.code = code
        self.param = param
        self.details = details

    @property
    def retryable(self) -> bool:
        return self.error_class in RETRYABLE_ERROR_CLASSES

    def __reduce__(self) -> tuple[object, ...]:  # keep the keyword-only fields through pickling
        return (
            _rebuild_error,
            (self.error_class, self.message, self.status, self.retry_after, self.code, self.param),
        )

    def __repr__(self) -> str:
        return (
            f"ProviderError({self.error_class!r}, {self.message!r}, status={self.status!r}, "
            f"retry_after={self.retry_after!r}, code={self.code!r})"
        )


def _rebuild_error(
    error_class: str,
    message: str,
    status: int | None,
    retry_after: float | None,
    code: str | None = None,
    param: str | None = None,
) -> ProviderError:
    return ProviderError(error_class, message, status=status, retry_after=retry_after, code=code, param=param)
