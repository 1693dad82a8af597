"""Per-customer webhook signing secrets, sealed in the vault like provider keys.

Generated when an operator asks (``onevault customers webhook-secret <slug>``, ``POST
/admin/v1/customers/{slug}/webhook-secret``) or automatically the first time a customer gets
a ``budget_webhook_url``; shown once, then only its fingerprint. A new one replaces the old
(a new satellite row; deliveries sign with the latest).
"""

from __future__ import annotations

import secrets

import asyncpg
from cryptography.exceptions import InvalidTag

from gateway.admin.customers import SOURCE, AdminError, customer_exists
from gateway.crypto import KeyRing, Sealed, fingerprint
from gateway.crypto.envelope import KeyRingError
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
        _secret_row(changed_by, sealed, fingerprint(secret)),
        record_source=SOURCE,
    )
    await VaultLoader(pool).load(batch)
    return {"customer": customer, "webhook_secret": secret, "fingerprint": fingerprint(secret)}


def _secret_row(changed_by: str, sealed: Sealed, fingerprint: str) -> tuple:
    return t.SAT_CUSTOMER_WEBHOOK_SECRET.row(
        changed_by=changed_by,
        ciphertext=sealed.ciphertext,
        nonce=sealed.nonce,
        wrapped_dek=sealed.wrapped_dek,
        kek_id=sealed.kek_id,
        fingerprint=fingerprint,
    )


_EVERY_LATEST = """
select distinct on (s.customer_hk) c.customer_bk as customer, s.*
from raw_vault.sat_customer_webhook_secret s join raw_vault.hub_customer c using (customer_hk)
order by s.customer_hk, s.load_dts desc
"""


async def rewrap_webhook_secrets(pool: asyncpg.Pool, keyring: KeyRing, *, changed_by: str) -> tuple[int, int]:
    """Re-wrap every customer's current secret not yet under the current KEK (a new satellite
    row each; superseded secrets stay as history). Returns (re-wrapped, unreadable): a secret whose
    KEK is not loaded any more cannot be re-wrapped and is left as it is."""
    batch = VaultBatch()
    moved = unreadable = 0
    for row in await pool.fetch(_EVERY_LATEST):
        if row["kek_id"] == keyring.current_id:
            continue
        old = Sealed(row["ciphertext"], row["nonce"], row["wrapped_dek"], row["kek_id"])
        try:
            sealed = keyring.rewrap(old, _record_id(row["customer"]))
        except (KeyRingError, InvalidTag):
            unreadable += 1
            continue
        hk = batch.hub(t.HUB_CUSTOMER, row["customer"], record_source=SOURCE)
        batch.sat(
            t.SAT_CUSTOMER_WEBHOOK_SECRET,
            hk,
            _secret_row(changed_by, sealed, row["fingerprint"]),
            record_source=SOURCE,
        )
        moved += 1
    if moved:
        await VaultLoader(pool).load(batch)
    return moved, unreadable


async def has_webhook_secret(pool: asyncpg.Pool, customer: str) -> bool:
    return await pool.fetchrow(_LATEST, hash_key(customer)) is not None


async def webhook_secret(pool: asyncpg.Pool, keyring: KeyRing, customer: str) -> str | None:
    row = await pool.fetchrow(_LATEST, hash_key(customer))
    if row is None:
        return None
    sealed = Sealed(row["ciphertext"], row["nonce"], row["wrapped_dek"], row["kek_id"])
    return keyring.open(sealed, _record_id(customer))
