"""Erasure of a customer's stored prompts and completions by destroying their data key.

The payload satellite is insert-only like the rest of the vault, so its rows stay; what goes is
the one key that opens them (``keystore.customer_data_key``), together with the caches that
hold answers (semantic entries sealed under that key, and the exact cache in Redis). Costs,
invoices and request history are untouched: they never depended on the key. The caller records
the erasure in the vault as an admin action (``customers.erase_payloads``).

PostgreSQL keeps a deleted row's bytes in its data files until VACUUM reclaims them, so the
erasure vacuums the key table; backups taken before it still hold the key (wrapped by the KEK)
until they expire — keep ``keystore`` out of long-lived backups, or rotate the KEK after erasing.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from gateway.cache import exact, semantic
from gateway.crypto import data_keys
from warehouse.hashing import hash_key


@dataclass(frozen=True, slots=True)
class Erasure:
    customer: str
    key_id: str | None  # the destroyed data key (None: the customer never had one)
    payloads: int  # stored payloads sealed under it, unreadable from now on
    semantic_entries: int
    exact_entries: int

    def describe(self) -> str:
        return (
            f"data key {self.key_id or '(none)'} destroyed; {self.payloads} stored payload(s) unreadable; "
            f"cache entries removed: {self.semantic_entries} semantic, {self.exact_entries} exact"
        )


_PAYLOADS = """
select count(*) from raw_vault.sat_api_request_payload p
join raw_vault.lnk_api_request_context l on l.api_request_hk = p.api_request_hk
where l.customer_hk = $1 and p.data_key_id = $2
"""


async def erase_payloads(pool: asyncpg.Pool, redis: aioredis.Redis, customer: str) -> Erasure:
    async with pool.acquire() as conn:
        async with conn.transaction():
            key_id = await data_keys.erase(conn, customer)
            entries = await semantic.purge(conn, customer)
        payloads = await conn.fetchval(_PAYLOADS, hash_key(customer), key_id) if key_id else 0
        await conn.execute("vacuum keystore.customer_data_key")
    return Erasure(customer, key_id, payloads, entries, await exact.purge(redis, customer))
