"""Per-customer webhook signing secrets, sealed in the vault like provider keys.

Generated when an operator asks (``onevault customers webhook-secret <slug>``, ``POST
/admin/v1/customers/{slug}/webhook-secret``) or automatically the first time a customer gets
a ``budget_webhook_url``; shown once, then only its fingerprint. A new one replaces the old
(a new satellite row; deliveries sign with the latest).
"""

from __future__ import annotations

import secrets

import asyncpg

from gateway.admin.customers import SOURCE, AdminError, customer_exists
from gateway.crypto import KeyRing, Sealed, fingerprint
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.hashing import hash_key
from warehouse.loader import VaultLoader

_LATEST = """
select * from raw_vault.sat_customer_webhook_secret
where customer_hk = $1 order by load_dts desc limit 1
"""


def _record_id(customer: str) -> str:
    return f"webhook:{customer}"  # the AAD: a sealed secret cannot be moved to another customer


async def create_webhook_secret(
    pool: asyncpg.Pool, keyring: KeyRing, customer: str, *, changed_by: str
) -> dict[str, str]:
    """A new secret for ``customer`` (returned once, in clear, to the operator)."""
    if not await customer_exists(pool, customer):
        raise AdminError(f"no customer {customer!r}")
    secret = "whsec_" + secrets.token_urlsafe(32)
    sealed = keyring.seal(secret, _record_id(customer))
    batch = VaultBatch()
    hk = batch.hub(t.HUB_CUSTOMER, customer, record_source=SOURCE)
    batch.sat(
        t.SAT_CUSTOMER_WEBHOOK_SECRET,
        hk,
        (changed_by, sealed.ciphertext, sealed.nonce, sealed.wrapped_dek, sealed.kek_id, fingerprint(secret)),
        record_source=SOURCE,
    )
    await VaultLoader(pool).load(batch)
    return {"customer": customer, "webhook_secret": secret, "fingerprint": fingerprint(secret)}


async def has_webhook_secret(pool: asyncpg.Pool, customer: str) -> bool:
    return await pool.fetchrow(_LATEST, hash_key(customer)) is not None


async def webhook_secret(pool: asyncpg.Pool, keyring: KeyRing, customer: str) -> str | None:
    row = await pool.fetchrow(_LATEST, hash_key(customer))
    if row is None:
        return None
    sealed = Sealed(row["ciphertext"], row["nonce"], row["wrapped_dek"], row["kek_id"])
    return keyring.open(sealed, _record_id(customer))
