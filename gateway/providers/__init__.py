"""Provider adapters: one module per wire format, all speaking the canonical types.

``get_adapter(endpoint.api_style)`` returns the adapter; every call takes the process's shared
``UpstreamClient`` (``create_http_client``: one pooled aiohttp session, used directly rather than
through httpx to keep the gateway's CPU per request down). Adapters know nothing about the
simulator.
"""

from gateway.providers.base import API_STYLES, ProviderAdapter, ProviderEndpoint, get_adapter
from gateway.providers.http import UpstreamClient, UpstreamResponse, create_http_client
from gateway.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ProviderError,
    StreamChunk,
    Usage,
)

__all__ = [
    "API_STYLES",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ProviderAdapter",
    "ProviderEndpoint",
    "ProviderError",
    "StreamChunk",
    "UpstreamClient",
    "UpstreamResponse",
    "Usage",
    "create_http_client",
    "get_adapter",
]
