"""Rotating the key-encryption key: every wrapped secret moves under the current KEK at once.

Three kinds of secret are wrapped by the KEK: customers' provider keys, their budget-webhook
signing secrets (both vault satellites: a new row each) and their data keys for stored payloads
(``keystore.customer_data_key``: re-wrapped in place). Re-wrapping only the first kind left the
others under the old KEK, so removing it from ``ONEVAULT_MASTER_KEY`` broke webhook signing and
made encrypted-retention requests fail after the provider had been paid. A secret whose KEK is not
loaded any more is counted as ``unreadable`` and left as it is: the old KEK must not be removed
while that count is above zero.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.admin.provider_keys import rewrap_provider_keys
from gateway.alerts.webhook_secrets import rewrap_webhook_secrets
from gateway.crypto import KeyRing
from gateway.crypto.data_keys import rewrap_data_keys


async def rotate_kek(pool: asyncpg.Pool, keyring: KeyRing, *, changed_by: str) -> dict[str, Any]:
    """Re-wrap everything not yet under ``keyring``'s current KEK; counts per kind, idempotent."""
    provider_keys, bad_keys = await rewrap_provider_keys(pool, keyring, changed_by=changed_by)
    webhook_secrets, bad_secrets = await rewrap_webhook_secrets(pool, keyring, changed_by=changed_by)
    data_keys, bad_data_keys = await rewrap_data_keys(pool, keyring)
    return {
        "rewrapped": provider_keys + webhook_secrets + data_keys,
        "kek_id": keyring.current_id,
        "provider_keys": provider_keys,
        "webhook_secrets": webhook_secrets,
        "data_keys": data_keys,
        "unreadable": bad_keys + bad_secrets + bad_data_keys,
    }
