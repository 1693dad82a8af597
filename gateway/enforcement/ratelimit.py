"""Requests/min and tokens/min per gateway key and per customer, atomic in Redis.

One Lua script checks every scope's counters for the current minute and increments the request
counters only if all scopes allow the request, so concurrent requests from any number of gateway
processes can never pass a limit together. Tokens are counted after the answer (the real
usage); a scope whose tokens for the minute have reached its limit refuses new requests until
the next minute. Fixed one-minute windows, the granularity customers configure limits in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from gateway.auth.principal import Limits, Principal

# KEYS: per scope, its request counter then its token counter.
# ARGV: per scope, its rpm limit then its tpm limit (-1 = none); last: the counters' TTL.
_ADMIT = """
local scopes = #KEYS / 2
local ttl = tonumber(ARGV[#ARGV])
for i = 1, scopes do
  local rpm = tonumber(ARGV[2 * i - 1])
  local tpm = tonumber(ARGV[2 * i])
  local used = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local tokens = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if rpm >= 0 and used + 1 > rpm then return {0, i, 'requests', rpm, used} end
  if tpm >= 0 and tokens >= tpm then return {0, i, 'tokens', tpm, tokens} end
end
local remaining = -1
for i = 1, scopes do
  local used = redis.call('INCR', KEYS[2 * i - 1])
  redis.call('EXPIRE', KEYS[2 * i - 1], ttl)
  local rpm = tonumber(ARGV[2 * i - 1])
  if rpm >= 0 and (remaining < 0 or rpm - used < remaining) then remaining = rpm - used end
end
return {1, 0, 'ok', 0, remaining}
"""


@dataclass(frozen=True, slots=True)
class RateVerdict:
    allowed: bool
    scope: str = ""
    kind: str = ""  # "requests" | "tokens"
    limit: int = 0
    retry_after: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class RateLimiter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(_ADMIT)

    @staticmethod
    def _scopes(who: Principal) -> list[tuple[str, Limits]]:
        scopes = [(f"customer:{who.customer}", who.customer_limits), (f"key:{who.key_id}", who.key_limits)]
        return [(name, lim) for name, lim in scopes if lim.rpm is not None or lim.tpm is not None]

    async def admit(self, who: Principal, now: float | None = None) -> RateVerdict:
        scopes = self._scopes(who)
        if not scopes:
            return RateVerdict(True)
        now = time.time() if now is None else now
        minute = int(now // 60)
        reset = 60 - int(now % 60)
        keys, args = [], []
        for name, lim in scopes:
            keys += [f"ov:rl:{name}:{minute}:req", f"ov:rl:{name}:{minute}:tok"]
            args += [-1 if lim.rpm is None else lim.rpm, -1 if lim.tpm is None else lim.tpm]
        ok, index, kind, limit, used = await self._script(keys=keys, args=[*args, 120])
        if ok:
            headers = {"x-ratelimit-reset-requests": f"{reset}s"}
            if int(used) >= 0:
                headers["x-ratelimit-remaining-requests"] = str(int(used))
            return RateVerdict(True, headers=headers)
        scope = scopes[int(index) - 1][0]
        kind = kind.decode() if isinstance(kind, bytes) else kind
        return RateVerdict(
            False,
            scope=scope,
            kind=kind,
            limit=int(limit),
            retry_after=reset,
            headers={
                f"x-ratelimit-limit-{kind}": str(int(limit)),
                f"x-ratelimit-remaining-{kind}": "0",
                f"x-ratelimit-reset-{kind}": f"{reset}s",
                "retry-after": str(reset),
            },
        )

    async def count_tokens(self, who: Principal, tokens: int, now: float | None = None) -> None:
        """Add a finished request's real token usage to each scope with a tokens/min limit."""
        scopes = [(n, lim) for n, lim in self._scopes(who) if lim.tpm is not None]
        if not scopes or tokens <= 0:
            return
        minute = int((time.time() if now is None else now) // 60)
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, _ in scopes:
                pipe.incrby(f"ov:rl:{name}:{minute}:tok", tokens)
                pipe.expire(f"ov:rl:{name}:{minute}:tok", 120)
            await pipe.execute()
