"""The connect-time half of the egress check, inside the HTTP clients that call customer URLs.

aiohttp (own-key provider calls): ``GuardedResolver`` drops every resolved address the policy
does not allow, so the connector can only connect to checked addresses — a rebinding DNS answer
is checked like any other (aiohttp's DNS cache holds only checked answers). An IP-literal URL
never reaches a resolver; ``UpstreamClient`` checks it before the call (no DNS involved).

httpx (budget webhooks): ``guarded_transport`` gives httpcore a network backend that resolves the
host itself, checks the address and connects to that very address (TLS still verifies the name).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable

import httpcore
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from gateway.egress.policy import EgressPolicy, EgressRefused


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses ``policy`` allows."""

    def __init__(self, policy: EgressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if self.policy.allows_name(host):
            return found
        kept = [r for r in found if self.policy.allows_address(r["host"])]
        if not kept:
            raise EgressRefused(f"egress to {host} refused: it resolves to no public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's default backend, connecting only to addresses ``policy`` allows."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            address = await self.policy.connect_address(host, port)
        except EgressRefused as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {type(exc).__name__}") from exc
        return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("egress to a unix socket refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose network backend is ``GuardedBackend``."""

    def __init__(self, policy: EgressPolicy, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx builds its pool without a way to pass a network backend; this is the same pool
        # (its defaults) with one. Proxies never apply: the transport is built with none.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, network_backend=GuardedBackend(policy)
        )


def guarded_transport(
    policy: EgressPolicy, *, verify: bool | ssl.SSLContext = True
) -> httpx.AsyncBaseTransport:
    """An httpx transport for calls to customer URLs (``httpx.AsyncClient(transport=...)``)."""
    context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
    return _GuardedTransport(policy, context)
