"""Helpers of the authentication and admission security tests (fixtures are in conftest.py).

Uvicorn trusts ``X-Forwarded-For`` from loopback (its default ``FORWARDED_ALLOW_IPS``), so each
test speaks from a random documentation address: the per-address counters it fills in the
session's Redis are its own, never another test's.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time


def new_address() -> str:
    """A random address in 2001:db8::/32 (documentation space)."""
    return "2001:db8:" + ":".join(secrets.token_hex(2) for _ in range(6))


def from_address(address: str, key: str | None = None) -> dict[str, str]:
    headers = {"x-forwarded-for": address}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return headers


def random_key() -> str:
    """Well-formed (so it costs a lookup) and belonging to no one."""
    return f"ov_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def cache_key(key: str) -> str:
    """Where the gateway caches a key's principal in Redis."""
    return f"ov:auth:{hashlib.sha256(key.encode()).hexdigest()}"


async def clear_of_minute_boundary(margin_s: float = 6.0) -> None:
    """Failure counters are per fixed minute: start a burst where it cannot straddle two."""
    left = 60 - time.time() % 60
    if left < margin_s:
        await asyncio.sleep(left + 0.05)
