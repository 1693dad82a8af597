"""Customers' own provider keys for the request path: decrypted once, kept in memory briefly.

A per-process cache (``TTL`` seconds) keeps the vault query and the AES-GCM work off the hot
path; it also bounds how long a revoked key can still be used by another gateway process.
"""

from __future__ import annotations

import logging
import time

import asyncpg
from cryptography.exceptions import InvalidTag

from gateway.admin.provider_keys import CustomerProviderKey, active_provider_keys
from gateway.crypto import KeyRing
from gateway.crypto.envelope import KeyRingError
from gateway.errors import ApiError

TTL = 10.0
log = logging.getLogger("onevault.provider_keys")


class CustomerKeys:
    def __init__(self, pool: asyncpg.Pool, keyring: KeyRing) -> None:
        self.pool = pool
        self.keyring = keyring
        self._cache: dict[str, tuple[float, dict[str, CustomerProviderKey]]] = {}

    async def get(self, customer: str) -> dict[str, CustomerProviderKey]:
        now = time.monotonic()
        hit = self._cache.get(customer)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            keys = await active_provider_keys(self.pool, self.keyring, customer)
        except (KeyRingError, InvalidTag) as exc:
            # Never fall back to the platform's key: that would silently change who pays.
            log.error("cannot decrypt provider keys of %s: %s", customer, type(exc).__name__)
            raise ApiError(
                503,
                "provider_key_unavailable",
                "Your provider key cannot be decrypted by this gateway (its key-encryption key is "
                "not loaded); the operator must add it to ONEVAULT_MASTER_KEY.",
            ) from exc
        self._cache[customer] = (now + TTL, keys)
        return keys

    def forget(self, customer: str) -> None:
        self._cache.pop(customer, None)
