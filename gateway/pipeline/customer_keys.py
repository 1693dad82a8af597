"""Customers' own provider keys for the request path: decrypted once, kept in memory briefly
(``PerCustomer``, 10 s — which also bounds how long a revoked key stays in use elsewhere)."""

from __future__ import annotations

import logging

import asyncpg
from cryptography.exceptions import InvalidTag

from gateway.control_plane.provider_keys import CustomerProviderKey, active_provider_keys
from gateway.crypto import KeyRing
from gateway.crypto.envelope import KeyRingError
from gateway.errors import ApiError
from gateway.pipeline.per_customer import PerCustomer

log = logging.getLogger("onevault.provider_keys")


class CustomerKeys(PerCustomer[dict[str, CustomerProviderKey]]):
    def __init__(self, pool: asyncpg.Pool, keyring: KeyRing) -> None:
        async def load(customer: str) -> dict[str, CustomerProviderKey]:
            try:
                return await active_provider_keys(pool, keyring, customer)
            except (KeyRingError, InvalidTag) as exc:
                # Never fall back to the platform's key: that would silently change who pays.
                log.error("cannot decrypt provider keys of %s: %s", customer, type(exc).__name__)
                raise ApiError(
                    503,
                    "provider_key_unavailable",
                    "Your provider key cannot be decrypted by this gateway (its key-encryption key is "
                    "not loaded); the operator must add it to ONEVAULT_MASTER_KEY.",
                ) from exc

        super().__init__(load)
