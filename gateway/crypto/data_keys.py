"""Per-customer data keys for stored prompts, completions and semantic-cache answers.

Each customer has at most one data key (AES-256) in ``keystore.customer_data_key``, wrapped by
the KEK like provider keys are. Payloads are sealed with it (AES-256-GCM, a fresh nonce per
value, the record's id as associated data so a ciphertext cannot be moved to another record).

Why a separate table and not a vault satellite: the raw vault is insert-only, so nothing in it
can ever be destroyed — a key stored there would outlive any erasure. ``erase`` deletes the
key row: every ciphertext sealed under it becomes noise, while the payload rows, costs and
invoices stay as they were (crypto-shredding). The next encrypted request creates a new key, so
later payloads are readable again under a new ``key_id``.

Gateways keep unwrapped keys in memory for ``ttl`` seconds (a database round trip per request
would cost more than the encryption): after an erasure a process may seal with the destroyed
key for up to that long, which loses those payloads rather than exposing anything.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.crypto.envelope import KeyRing, KeyRingError
from warehouse.hashing import hash_key

NONCE_BYTES = 12
DEFAULT_TTL_S = 5.0


class PayloadUnreadable(Exception):
    """The data key is gone (erased) or the ciphertext does not belong to this record."""


@dataclass(frozen=True, slots=True)
class DataKey:
    key_id: str
    key: bytes = b""

    def seal(self, plaintext: str, record_id: str) -> tuple[bytes, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return nonce, AESGCM(self.key).encrypt(nonce, plaintext.encode(), record_id.encode())

    def open(self, nonce: bytes, ciphertext: bytes, record_id: str) -> str:
        try:
            return AESGCM(self.key).decrypt(nonce, ciphertext, record_id.encode()).decode()
        except InvalidTag as exc:
            raise PayloadUnreadable("ciphertext does not match its record or key") from exc


_SELECT = "select key_id, wrapped_dek, kek_id from keystore.customer_data_key where customer_hk = $1"
_INSERT = """
insert into keystore.customer_data_key (customer_hk, key_id, wrapped_dek, kek_id) values ($1, $2, $3, $4)
on conflict (customer_hk) do nothing
"""


class DataKeys:
    def __init__(self, pool: asyncpg.Pool, keyring: KeyRing, ttl: float = DEFAULT_TTL_S) -> None:
        self.pool = pool
        self.keyring = keyring
        self.ttl = ttl
        self._cache: dict[str, tuple[float, DataKey | None]] = {}

    async def current(self, customer: str) -> DataKey:
        """The customer's data key, created on first use (concurrent creators agree on one)."""
        key = await self.find(customer)
        if key is not None:
            return key
        dek = AESGCM.generate_key(bit_length=256)
        key_id = "dk_" + secrets.token_hex(8)
        wrapped, kek_id = self.keyring.wrap_key(dek, key_id.encode())
        await self.pool.execute(_INSERT, hash_key(customer), key_id, wrapped, kek_id)
        self._cache.pop(customer, None)
        found = await self.find(customer)
        assert found is not None
        return found

    async def find(self, customer: str, key_id: str | None = None) -> DataKey | None:
        """The live key (optionally: only if it is ``key_id``); None once erased."""
        now = time.monotonic()
        hit = self._cache.get(customer)
        if hit is not None and hit[0] > now:
            key = hit[1]
        else:
            row = await self.pool.fetchrow(_SELECT, hash_key(customer))
            key = (
                DataKey(
                    row["key_id"],
                    self.keyring.unwrap_key(row["wrapped_dek"], row["kek_id"], row["key_id"].encode()),
                )
                if row is not None
                else None
            )
            self._cache[customer] = (now + self.ttl, key)
        if key is None or (key_id is not None and key.key_id != key_id):
            return None
        return key

    def forget(self, customer: str) -> None:
        self._cache.pop(customer, None)


_STALE = "select key_id, wrapped_dek, kek_id from keystore.customer_data_key where kek_id <> $1"
_REWRAP = """
update keystore.customer_data_key set wrapped_dek = $1, kek_id = $2 where key_id = $3 and kek_id = $4
"""


async def rewrap_data_keys(pool: asyncpg.Pool, keyring: KeyRing) -> tuple[int, int]:
    """Re-wrap every customer data key not yet under the current KEK, in place (the key store is
    outside the insert-only vault; the data key itself, and so every payload, is unchanged).
    Returns (re-wrapped, unreadable): a key whose KEK is not loaded any more is left as it is."""
    moved = unreadable = 0
    for row in await pool.fetch(_STALE, keyring.current_id):
        aad = row["key_id"].encode()
        try:
            dek = keyring.unwrap_key(row["wrapped_dek"], row["kek_id"], aad)
        except (KeyRingError, InvalidTag):
            unreadable += 1
            continue
        wrapped, kek_id = keyring.wrap_key(dek, aad)
        done = await pool.execute(_REWRAP, wrapped, kek_id, row["key_id"], row["kek_id"])
        moved += done.endswith(" 1")  # 0: erased or re-wrapped meanwhile
    return moved, unreadable


async def erase(conn: asyncpg.Pool | asyncpg.Connection, customer: str) -> str | None:
    """Destroy the customer's data key; returns its id (None: there was none)."""
    return await conn.fetchval(
        "delete from keystore.customer_data_key where customer_hk = $1 returning key_id", hash_key(customer)
    )
