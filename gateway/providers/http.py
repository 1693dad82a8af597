"""The process-wide HTTP client every adapter shares.

One pooled client per process keeps TLS sessions and keep-alive connections warm across
requests. Adapters speak the ``httpx`` API, but the transport underneath is aiohttp's
(``httpx-aiohttp``, the same transport the official OpenAI and Anthropic SDKs offer): httpcore's
pool scans every connection on each request and costs ~2 ms of CPU per call at our request
rates, which alone broke the gateway's added-latency budget (see benchmarks/gateway_overhead.py).

The client has no default timeout on purpose: each call passes its endpoint's ``timeout_s``
(see ``timeout_for``), because providers differ widely in how long a healthy answer takes.
"""

from __future__ import annotations

from functools import lru_cache

import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.providers.base import ProviderEndpoint

DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30.0)
USER_AGENT = "onevault-gateway"


def create_http_client(*, limits: httpx.Limits = DEFAULT_LIMITS, trust_env: bool = True) -> httpx.AsyncClient:
    """A pooled HTTP/1.1 client for provider calls (close it with ``await client.aclose()``)."""
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits, trust_env=trust_env),
        timeout=None,
        follow_redirects=False,
        trust_env=trust_env,
        headers={"user-agent": USER_AGENT},
    )


def timeout_for(endpoint: ProviderEndpoint) -> httpx.Timeout:
    """Per-phase timeouts (connect, each read, write, pool wait) of ``endpoint.timeout_s``.

    A per-read timeout, not a total deadline, so a long stream that keeps producing tokens is
    never cut off while a stalled one is.
    """
    return _timeout(endpoint.timeout_s)


@lru_cache(maxsize=64)
def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds)
