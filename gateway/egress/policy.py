"""Which addresses a customer-supplied URL may reach: public ones, or what the operator allow-lists.

Own-key base URLs and budget-webhook URLs are tenant input. Without this check a tenant could make
the gateway call its own network — loopback, private ranges, link-local cloud metadata
(169.254.169.254), compose service names — or the gateway itself, which recurses. The check runs
when a URL is registered (``check_url``: resolved once, refused with an error naming the field) and
again on every new connection (``gateway/egress/connect.py``), so a name that resolves to a public
address at registration and to a private one later (DNS rebinding) is refused all the same.
Platform routes from the operator's catalog are trusted and never pass through here.

``ONEVAULT_EGRESS_ALLOW`` names the exceptions (self-hosted vLLM/Ollama): comma-separated IP
addresses, networks (CIDR), host names, or ``*.domain`` for every name under a domain.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

RESOLVE_TIMEOUT_S: Final = 2.0
# Names that never denote a public host, whatever a resolver says (RFC 6761/6762/8375, .internal).
_PRIVATE_SUFFIXES: Final = (".localhost", ".local", ".internal", ".home.arpa", ".lan")
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
# Special-purpose IPv4 blocks Python's ``is_global`` still calls global (IETF protocol assignments).
_NOT_PUBLIC: Final = (ipaddress.IPv4Network("192.0.0.0/24"),)


class EgressRefused(OSError):
    """A connection (or a registration) to an address the egress policy does not allow."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, compatible, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or int(ip) >> 32 == 0:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local, shared, reserved or multicast."""
    if isinstance(ip, ipaddress.IPv6Address):
        v4 = _embedded_v4(ip)
        if v4 is not None:
            return is_public(v4)
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    return not any(ip in net for net in _NOT_PUBLIC if net.version == ip.version)


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address (brackets and an IPv6 zone stripped), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _name(host: str) -> str:
    return host.strip().rstrip(".").lower()


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Public addresses plus the operator's allow-list (empty: public only — the safe default)."""

    networks: tuple[IPNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()  # ".example.internal" for an entry "*.example.internal"
    hop_id: str = ""  # sent on customer-URL calls so the gateway recognises (and refuses) itself
    resolve_timeout_s: float = RESOLVE_TIMEOUT_S

    @classmethod
    def parse(cls, allow: str, *, hop_id: str = "") -> EgressPolicy:
        """From ``ONEVAULT_EGRESS_ALLOW``'s comma-separated entries (ValueError on a bad one)."""
        networks: list[IPNetwork] = []
        names: set[str] = set()
        suffixes: list[str] = []
        for raw in allow.split(","):
            entry = _name(raw)
            if not entry:
                continue
            if entry.startswith("*."):
                suffixes.append(entry[1:])
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or ":" in entry or " " in entry:
                raise ValueError(f"ONEVAULT_EGRESS_ALLOW: {raw.strip()!r} is not an address, network or name")
            names.add(entry)
        return cls(tuple(networks), frozenset(names), tuple(suffixes), hop_id)

    def allows_name(self, host: str) -> bool:
        """The operator allow-listed this host name (its addresses are then not checked)."""
        name = _name(host)
        return name in self.names or any(name.endswith(s) for s in self.suffixes)

    def allows_address(self, ip: IPAddress | str) -> bool:
        if isinstance(ip, str):
            parsed = parse_ip(ip)
            if parsed is None:
                return False
            ip = parsed
        if is_public(ip):
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks if net.version == ip.version)

    def refusal(self, host: str) -> str | None:
        """Why ``host`` may not be reached without resolving it (None: resolve and check)."""
        if self.allows_name(host):
            return None
        ip = parse_ip(host)
        if ip is not None:
            return None if self.allows_address(ip) else f"{host} is not a public address"
        name = _name(host)
        if name == "localhost" or name.endswith(_PRIVATE_SUFFIXES) or "." not in name:
            return f"{host} is not a public host name"
        return None

    async def resolve_refusal(self, host: str, port: int) -> str | None:
        """Why ``host`` may not be reached, resolving it (a name that does not resolve yet passes:
        every connection is checked again)."""
        why = self.refusal(host)
        if why is not None or self.allows_name(host) or parse_ip(host) is not None:
            return why
        try:
            infos = await asyncio.wait_for(
                asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                self.resolve_timeout_s,
            )
        except (OSError, TimeoutError):
            return None
        bad = sorted({str(info[4][0]) for info in infos if not self.allows_address(str(info[4][0]))})
        return f"{host} resolves to a non-public address ({', '.join(bad[:3])})" if bad else None

    async def check_url(self, url: str, field_name: str) -> None:
        """Refuse (``EgressRefused``) a URL whose host is not public or allow-listed."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EgressRefused(f"{field_name} must be an http(s) URL with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise EgressRefused(f"{field_name} has an invalid port") from exc
        why = await self.resolve_refusal(parts.hostname, port)
        if why is not None:
            raise EgressRefused(
                f"{field_name} must point at a public address: {why} (an operator can allow it "
                "with ONEVAULT_EGRESS_ALLOW)"
            )

    async def connect_address(self, host: str, port: int) -> str:
        """The address to connect to for ``host`` (resolved and checked now, at connect time)."""
        if self.allows_name(host):
            return host
        ip = parse_ip(host)
        if ip is not None:
            if not self.allows_address(ip):
                raise EgressRefused(f"egress to {host} refused: not a public address")
            return host
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
            self.resolve_timeout_s,
        )
        for info in infos:
            if self.allows_address(str(info[4][0])):
                return str(info[4][0])
        raise EgressRefused(f"egress to {host} refused: it resolves to no public address")
