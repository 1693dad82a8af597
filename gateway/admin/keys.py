"""Issue gateway API keys: the key is returned once; the vault keeps its hash and prefix."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from gateway.admin.customers import SOURCE, AdminError, customer_exists
from gateway.auth.keys import generate_key, key_hash, key_prefix
from gateway.auth.principal import NO_LIMITS, Limits
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader


@dataclass(frozen=True, slots=True)
class IssuedKey:
    customer: str
    key_id: str
    key_prefix: str
    key: str  # shown once, never stored


async def create_gateway_key(
    pool: asyncpg.Pool,
    customer: str,
    *,
    changed_by: str,
    label: str | None = None,
    limits: Limits = NO_LIMITS,
) -> IssuedKey:
    if not await customer_exists(pool, customer):
        raise AdminError(
            f"no customer {customer!r}; create it first with `onevault customers create {customer}`"
        )
    key_id, key = generate_key()
    batch = VaultBatch()
    customer_hk = batch.hub(t.HUB_CUSTOMER, customer, record_source=SOURCE)
    key_hk = batch.hub(t.HUB_GATEWAY_KEY, key_id, record_source=SOURCE)
    batch.link(t.LNK_GATEWAY_KEY_CUSTOMER, (key_hk, customer_hk), (key_id, customer), record_source=SOURCE)
    batch.sat(
        t.SAT_GATEWAY_KEY_DETAILS,
        key_hk,
        (
            changed_by,
            key_hash(key),
            key_prefix(key_id),
            label,
            "active",
            None,
            None,
            limits.budget_daily,
            limits.budget_monthly,
            limits.rpm,
            limits.tpm,
            None,
        ),
        record_source=SOURCE,
    )
    await VaultLoader(pool).load(batch)
    return IssuedKey(customer, key_id, key_prefix(key_id), key)
