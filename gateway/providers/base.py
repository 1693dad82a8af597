"""Where a provider is (``ProviderEndpoint``), what an adapter does (``ProviderAdapter``), and
the registry that picks the adapter for an endpoint's wire format (``get_adapter``)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

from gateway.providers.http import UpstreamClient
from gateway.providers.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    StreamChunk,
)

DEFAULT_AZURE_API_VERSION: Final = "2024-10-21"
DEFAULT_ANTHROPIC_VERSION: Final = "2023-06-01"


@dataclass(frozen=True, slots=True)
class ProviderEndpoint:
    """One configured provider account.

    ``api_key`` is plaintext only in memory: it is excluded from ``repr`` so that logging an
    endpoint (or an exception holding one) never leaks it.
    """

    api_style: str
    base_url: str
    api_key: str = field(repr=False)
    timeout_s: float = 60.0
    api_version: str | None = None  # azure: api-version query; anthropic: anthropic-version header
    deployments: Mapping[str, str] = field(default_factory=dict)  # azure: model -> deployment
    # The base URL is the customer's (an own key's): called through the egress-guarded client.
    customer_url: bool = False

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"provider base_url must be an http(s) URL, got {self.base_url!r}")
        if not self.timeout_s > 0:
            raise ValueError(f"provider timeout_s must be positive, got {self.timeout_s!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))


@runtime_checkable
class ProviderAdapter(Protocol):
    """Translates canonical requests to one wire format and back.

    Adapters are stateless singletons shared by every request; the pooled HTTP client is passed
    in so the process keeps one connection pool.
    """

    api_style: str

    async def complete(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest
    ) -> ChatResponse:
        """One whole answer, or a classified ``ProviderError``."""
        ...

    def stream(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, request: ChatRequest
    ) -> AsyncIterator[StreamChunk]:
        """Chunks as they arrive; usage (when the provider reports it) only on the final chunk(s).

        If the stream breaks, every chunk received is yielded *before* ``ProviderError``
        (``stream_broken``, or the provider's in-stream error) is raised, so the caller can cost
        and record what was delivered. Closing the iterator early closes the upstream response.
        """
        ...

    async def embed(
        self, client: UpstreamClient, endpoint: ProviderEndpoint, request: EmbeddingRequest
    ) -> EmbeddingResponse:
        """One vector per input, or a classified ``ProviderError`` (``bad_request`` for a wire
        format without an embeddings API, e.g. Anthropic's)."""
        ...


class UnknownApiStyleError(KeyError):
    """Raised by ``get_adapter`` for a wire format no adapter speaks."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0]) if self.args else "unknown api_style"


_MODULES: Final = {
    "openai": ("gateway.providers.openai", "OpenAIAdapter"),
    "openai_compatible": ("gateway.providers.openai_compatible", "OpenAICompatibleAdapter"),
    "azure_openai": ("gateway.providers.azure_openai", "AzureOpenAIAdapter"),
    "anthropic": ("gateway.providers.anthropic", "AnthropicAdapter"),
    "gemini": ("gateway.providers.gemini", "GeminiAdapter"),
    "cohere": ("gateway.providers.cohere", "CohereAdapter"),
}
# The wire formats OneVault speaks out of the box, in a fixed order (tests parametrize on it).
API_STYLES: Final = tuple(_MODULES)
_ADAPTERS: dict[str, ProviderAdapter] = {}


def register_adapter(adapter: ProviderAdapter) -> None:
    """Add (or replace) the adapter for ``adapter.api_style``."""
    _ADAPTERS[adapter.api_style] = adapter


def get_adapter(api_style: str) -> ProviderAdapter:
    """The shared adapter for a wire format; built-in adapters are imported on first use."""
    adapter = _ADAPTERS.get(api_style)
    if adapter is not None:
        return adapter
    target = _MODULES.get(api_style)
    if target is None:
        known = ", ".join(sorted({*_MODULES, *_ADAPTERS}))
        raise UnknownApiStyleError(f"no provider adapter for api_style {api_style!r} (known: {known})")
    module, name = target
    adapter = getattr(importlib.import_module(module), name)()
    _ADAPTERS[api_style] = adapter
    return adapter
