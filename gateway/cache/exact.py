"""The exact cache: one Redis string per (customer, normalised request), expiring with its TTL.

The customer is part of every key, so one customer's answers are never served to another;
``purge`` drops a customer's entries (erasure, or a change of mind) with a SCAN, never KEYS.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from gateway.cache.answer import CachedAnswer

PREFIX = "ov:cache:x:"


def _key(customer: str, digest: str) -> str:
    return f"{PREFIX}{customer}:{digest}"


class ExactCache:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def get(self, customer: str, digest: str) -> CachedAnswer | None:
        data = await self.redis.get(_key(customer, digest))
        return None if data is None else CachedAnswer.from_bytes(data)

    async def put(self, customer: str, digest: str, answer: CachedAnswer, ttl_s: int) -> None:
        await self.redis.set(_key(customer, digest), answer.to_bytes(), ex=ttl_s)


async def purge(redis: aioredis.Redis, customer: str) -> int:
    """Delete every exact-cache entry of ``customer``; returns how many."""
    n = 0
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=f"{PREFIX}{customer}:*", count=500):
        batch.append(key)
        if len(batch) >= 500:
            n += await redis.delete(*batch)
            batch.clear()
    if batch:
        n += await redis.delete(*batch)
    return n
