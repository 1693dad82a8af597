"""The semantic cache: answers found by the cosine similarity of the last user turn's embedding
(PostgreSQL + pgvector, HNSW), within a scope that must match exactly (``answer.semantic_scope``).

Entries live in ``semantic_cache.entry`` (sql/010), not in the raw vault: they expire and may
be deleted. The answer is sealed under the customer's data key (``gateway.crypto.data_keys``),
so an erased customer's entries are unreadable at once and are purged by the erasure itself.

Vectors are stored with ``DIMS`` components: the embedding call asks the model for that many
(OpenAI text-embedding-3, Gemini and Cohere embed-v4 shorten their vectors natively); a longer
answer is truncated and renormalised, a shorter one zero-padded (which keeps cosines exact).
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import asyncpg
from pgvector import Vector

from gateway.cache.answer import CachedAnswer
from gateway.crypto.data_keys import DataKey, PayloadUnreadable
from warehouse.hashing import hash_key

DIMS = 256

_LOOKUP = """
select data_key_id, nonce, ciphertext, 1 - (embedding <=> $3) as similarity
from semantic_cache.entry
where customer_hk = $1 and scope_hash = $2 and expires_at > now()
order by embedding <=> $3
limit 1
"""
_INSERT = """
insert into semantic_cache.entry
  (customer_hk, scope_hash, embedding, data_key_id, nonce, ciphertext, expires_at)
values ($1, $2, $3, $4, $5, $6, now() + $7::interval)
"""
_EXPIRED = "delete from semantic_cache.entry where customer_hk = $1 and expires_at <= now()"


def fit(vector: list[float]) -> list[float]:
    """``vector`` as a unit vector of ``DIMS`` components."""
    v = vector[:DIMS] + [0.0] * max(0, DIMS - len(vector))
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def _aad(customer: str, scope: bytes) -> str:
    return f"semantic:{customer}:{scope.hex()}"


class SemanticCache:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def lookup(
        self, customer: str, scope: bytes, vector: list[float], threshold: Decimal, key: DataKey | None
    ) -> tuple[CachedAnswer, float] | None:
        """The nearest live entry at or above ``threshold`` similarity that ``key`` can open."""
        row = await self.pool.fetchrow(_LOOKUP, hash_key(customer), scope, Vector(fit(vector)))
        if row is None or row["similarity"] < float(threshold):
            return None
        if key is None or row["data_key_id"] != key.key_id:
            return None  # sealed under a destroyed key
        try:
            plain = key.open(row["nonce"], row["ciphertext"], _aad(customer, scope))
        except PayloadUnreadable:
            return None
        return CachedAnswer.from_bytes(plain), float(row["similarity"])

    async def put(
        self,
        customer: str,
        scope: bytes,
        vector: list[float],
        answer: CachedAnswer,
        ttl_s: int,
        key: DataKey,
    ) -> None:
        nonce, ciphertext = key.seal(answer.to_bytes().decode(), _aad(customer, scope))
        hk = hash_key(customer)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_EXPIRED, hk)
            ttl = timedelta(seconds=ttl_s)
            await conn.execute(_INSERT, hk, scope, Vector(fit(vector)), key.key_id, nonce, ciphertext, ttl)


async def purge(conn: asyncpg.Pool | asyncpg.Connection, customer: str) -> int:
    """Delete every semantic-cache entry of ``customer``; returns how many."""
    status = await conn.execute("delete from semantic_cache.entry where customer_hk = $1", hash_key(customer))
    return int(status.split()[-1])
