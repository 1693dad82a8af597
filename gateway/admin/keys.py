"""Gateway API keys: issue (returned once; the vault keeps its hash and prefix), list, revoke,
rotate with a grace period. Every change is a new satellite row: the key's history stays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from gateway.admin.customers import SOURCE, AdminError, customer_exists
from gateway.auth.keys import generate_key, key_hash, key_prefix
from gateway.auth.principal import NO_LIMITS, Limits
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.hashing import hash_key
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
    expires_at: datetime | None = None,
    allowed_models: tuple[str, ...] | None = None,
) -> IssuedKey:
    if expires_at is not None and expires_at <= datetime.now(timezone.utc):
        raise AdminError("expires_at must be in the future")
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
        t.SAT_GATEWAY_KEY_DETAILS.row(
            changed_by=changed_by,
            key_hash=key_hash(key),
            key_prefix=key_prefix(key_id),
            label=label,
            status="active",
            expires_at=expires_at,
            grace_until=None,
            budget_daily=limits.budget_daily,
            budget_monthly=limits.budget_monthly,
            rate_limit_rpm=limits.rpm,
            rate_limit_tpm=limits.tpm,
            allowed_models=list(allowed_models) if allowed_models else None,
        ),
        record_source=SOURCE,
    )
    await VaultLoader(pool).load(batch)
    return IssuedKey(customer, key_id, key_prefix(key_id), key)


_KEYS_SQL = """
select distinct on (s.gateway_key_hk) h.gateway_key_bk as key_id, s.key_prefix, s.label, s.status,
       s.expires_at, s.grace_until, s.key_hash, s.budget_daily, s.budget_monthly, s.rate_limit_rpm,
       s.rate_limit_tpm, s.allowed_models, c.customer_bk as customer,
       (select min(x.load_dts) from raw_vault.sat_gateway_key_details x
        where x.gateway_key_hk = s.gateway_key_hk) as created_at
from raw_vault.sat_gateway_key_details s
join raw_vault.hub_gateway_key h using (gateway_key_hk)
join raw_vault.lnk_gateway_key_customer l using (gateway_key_hk)
join raw_vault.hub_customer c on c.customer_hk = l.customer_hk
where {where}
order by s.gateway_key_hk, s.load_dts desc
"""


# When each key last made a request, from the ledger itself (so it needs no write on the hot path;
# it trails the gateway by the loader's lag, well under a second).
_LAST_USED_SQL = """
select h.gateway_key_bk as key_id, max(d.request_ts) as last_used_at
from raw_vault.lnk_api_request_context l
join raw_vault.hub_gateway_key h using (gateway_key_hk)
join raw_vault.sat_api_request_details d using (api_request_hk)
where l.customer_hk = $1
group by h.gateway_key_bk
"""


async def list_keys(pool: asyncpg.Pool, customer: str, *, last_used: bool = True) -> list[dict[str, Any]]:
    """The customer's keys as they stand now (never a secret: prefix, status, limits, last use).
    ``last_used=False`` skips the last-use scan of the customer's requests (the console reads it
    from the marts, gateway/console/data/keys.py)."""
    rows = await pool.fetch(_KEYS_SQL.format(where="c.customer_bk = $1"), customer)
    used = dict(await pool.fetch(_LAST_USED_SQL, hash_key(customer))) if last_used else {}
    keys = [{**_public(r), "last_used_at": used.get(r["key_id"])} for r in rows]
    return sorted(keys, key=lambda k: k["created_at"])


async def key_hashes(pool: asyncpg.Pool, customer: str) -> list[asyncpg.Record]:
    """The customer's key hashes, to drop cached principals after a configuration change."""
    return await pool.fetch(_KEYS_SQL.format(where="c.customer_bk = $1"), customer)


async def _key(pool: asyncpg.Pool, key_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(_KEYS_SQL.format(where="h.gateway_key_bk = $1"), key_id)
    if row is None:
        raise AdminError(f"no gateway key {key_id!r}")
    return row


def _public(row: asyncpg.Record) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k != "key_hash"}


async def _record_state(
    pool: asyncpg.Pool, row: asyncpg.Record, *, changed_by: str, status: str, grace_until: datetime | None
) -> None:
    batch = VaultBatch()
    hk = batch.hub(t.HUB_GATEWAY_KEY, row["key_id"], record_source=SOURCE)
    batch.sat(
        t.SAT_GATEWAY_KEY_DETAILS,
        hk,
        t.SAT_GATEWAY_KEY_DETAILS.row(
            changed_by=changed_by,
            key_hash=row["key_hash"],
            key_prefix=row["key_prefix"],
            label=row["label"],
            status=status,
            expires_at=row["expires_at"],
            grace_until=grace_until,
            budget_daily=row["budget_daily"],
            budget_monthly=row["budget_monthly"],
            rate_limit_rpm=row["rate_limit_rpm"],
            rate_limit_tpm=row["rate_limit_tpm"],
            allowed_models=row["allowed_models"],
        ),
        record_source=SOURCE,
    )
    await VaultLoader(pool).load(batch)


async def revoke_key(pool: asyncpg.Pool, key_id: str, *, changed_by: str) -> bytes:
    """Revoke a key at once; returns its hash so caches can drop it (``KeyStore.invalidate``)."""
    row = await _key(pool, key_id)
    if row["status"] == "revoked":
        raise AdminError(f"key {key_id} is already revoked")
    await _record_state(pool, row, changed_by=changed_by, status="revoked", grace_until=None)
    return bytes(row["key_hash"])


async def rotate_key(
    pool: asyncpg.Pool, key_id: str, *, changed_by: str, grace: timedelta = timedelta(hours=24)
) -> tuple[IssuedKey, bytes]:
    """Issue a successor with the same label and limits; the old key works until the grace ends."""
    row = await _key(pool, key_id)
    if row["status"] != "active":
        raise AdminError(f"only an active key can be rotated; {key_id} is {row['status']}")
    limits = Limits(row["rate_limit_rpm"], row["rate_limit_tpm"], row["budget_daily"], row["budget_monthly"])
    issued = await create_gateway_key(
        pool,
        row["customer"],
        changed_by=changed_by,
        label=row["label"],
        limits=limits,
        expires_at=row["expires_at"],
        allowed_models=tuple(row["allowed_models"]) if row["allowed_models"] else None,
    )
    until = datetime.now(timezone.utc) + grace
    await _record_state(pool, row, changed_by=changed_by, status="rotated", grace_until=until)
    return issued, bytes(row["key_hash"])
