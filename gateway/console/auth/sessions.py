"""Server-side sessions in Redis: the cookie holds a random id only; Redis holds who, since when,
and the session's CSRF nonce under the id's SHA-256 (a Redis dump does not hand out cookies).

Idle expiry is the key's TTL (renewed on use); absolute expiry is checked against the login time.
Logging out, disabling a user or changing their role ends the session at the next request.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

COOKIE = "ov_console"


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    email: str
    created: float
    csrf_nonce: str
    via: str  # password | oidc


def redis_key(sid: str) -> str:
    return "ov:console:session:" + hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    def __init__(self, redis: aioredis.Redis, *, idle_s: int, absolute_s: int) -> None:
        self.redis, self.idle_s, self.absolute_s = redis, idle_s, absolute_s

    async def create(self, email: str, via: str) -> Session:
        session = Session(secrets.token_urlsafe(32), email, time.time(), secrets.token_urlsafe(16), via)
        await self.redis.hset(
            redis_key(session.sid),
            mapping={"email": email, "created": str(session.created), "csrf": session.csrf_nonce, "via": via},
        )
        await self.redis.expire(redis_key(session.sid), self.idle_s)
        return session

    async def get(self, sid: str | None) -> Session | None:
        """The live session for a cookie value (renewing its idle timer), else None."""
        if not sid or len(sid) > 100:
            return None
        key = redis_key(sid)
        data = await self.redis.hgetall(key)
        if not data:
            return None
        row = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in data.items()
        }
        created = float(row["created"])
        if time.time() - created > self.absolute_s:
            await self.redis.delete(key)
            return None
        await self.redis.expire(key, self.idle_s)
        return Session(sid, row["email"], created, row["csrf"], row.get("via", "password"))

    async def delete(self, sid: str | None) -> None:
        if sid:
            await self.redis.delete(redis_key(sid))
