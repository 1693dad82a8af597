"""Login throttling and lockout in Redis, shared by every gateway process.

Two counters: failed logins per client address per minute (``FailureThrottle``, as the API keys
use), and failed logins in a row per account; at ``lockout_failures`` the account is locked for
``lockout_s`` seconds. A locked account, a wrong password and an unknown e-mail all get the same
generic refusal, so the form tells an attacker nothing.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from gateway.auth.throttle import FailureThrottle


def _account_key(email: str) -> str:
    return "ov:console:fails:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


class LoginGuard:
    def __init__(
        self, redis: aioredis.Redis, *, per_minute: int, lockout_failures: int, lockout_s: int
    ) -> None:
        self.redis = redis
        self.addresses = FailureThrottle(redis, "console-login", per_minute)
        self.lockout_failures, self.lockout_s = lockout_failures, lockout_s

    async def blocked(self, email: str, address: str | None) -> bool:
        """Whether this attempt is refused before its password is even checked."""
        keys = [_account_key(email)]
        if address:
            keys.append(self.addresses.key(address))
        counts = await self.redis.mget(keys)
        locked = counts[0] is not None and int(counts[0]) >= self.lockout_failures
        return locked or (len(counts) > 1 and self.addresses.exceeded(counts[1]))

    async def failed(self, email: str, address: str | None) -> None:
        key = _account_key(email)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.lockout_s)
            await pipe.execute()
        await self.addresses.failed(address)

    async def succeeded(self, email: str) -> None:
        await self.redis.delete(_account_key(email))
