"""A circuit breaker per provider and model, shared by every gateway process through Redis.

``threshold`` failures of the provider's own making (5xx, timeouts, broken connections or
streams, garbage answers — not 4xx) within ``window_s`` open the circuit: for ``cooldown_s``
the pair is skipped, so requests fail over at once instead of waiting on a sick upstream. After
the cooldown the next requests probe it (half-open): a success closes the circuit, a failure
re-opens it immediately (the window still holds the earlier failures). Each process keeps the
state it read for ``LOCAL_S`` seconds, so the healthy path costs one Redis read per pair per
second, not one per request.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

HEALTH_FAILURES = frozenset({"server_error", "timeout", "connection", "stream_broken", "bad_response"})
LOCAL_S = 1.0

# KEYS[1]: failure counter, KEYS[2]: open flag. ARGV: threshold, window ms, cooldown ms.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], n, 'PX', ARGV[3])
  return 1
end
return 0
"""


class CircuitBreaker:
    def __init__(
        self, redis: aioredis.Redis, *, threshold: int = 5, window_s: float = 30.0, cooldown_s: float = 15.0
    ) -> None:
        self.redis = redis
        self.threshold = threshold
        self.window_ms = int(window_s * 1000)
        self.cooldown_ms = int(cooldown_s * 1000)
        self.cooldown_s = cooldown_s
        self._fail = redis.register_script(_FAIL)
        self._seen: dict[tuple[str, str], tuple[float, bool]] = {}  # (provider, model) → (until, open)
        self._troubled: dict[tuple[str, str], float] = {}  # pairs that failed lately, here

    @staticmethod
    def _keys(provider: str, model: str) -> tuple[str, str]:
        return f"ov:cb:{provider}:{model}:fails", f"ov:cb:{provider}:{model}:open"

    async def allows(self, provider: str, model: str) -> bool:
        pair, now = (provider, model), time.monotonic()
        seen = self._seen.get(pair)
        if seen is not None and seen[0] > now:
            return not seen[1]
        is_open = bool(await self.redis.exists(self._keys(provider, model)[1]))
        self._seen[pair] = (now + LOCAL_S, is_open)
        if is_open:
            self._troubled[pair] = now + self.window_ms / 1000
        return not is_open

    async def failure(self, provider: str, model: str, error_class: str) -> bool:
        """Count a failed attempt; returns True if this failure opened the circuit."""
        if error_class not in HEALTH_FAILURES:
            return False
        pair = (provider, model)
        self._troubled[pair] = time.monotonic() + self.window_ms / 1000
        opened = bool(
            await self._fail(
                keys=list(self._keys(provider, model)),
                args=[self.threshold, self.window_ms, self.cooldown_ms],
            )
        )
        if opened:
            self._seen[pair] = (time.monotonic() + LOCAL_S, True)
        return opened

    async def success(self, provider: str, model: str) -> None:
        """A good answer closes a circuit this process saw in trouble (others expire on their own)."""
        pair = (provider, model)
        until = self._troubled.get(pair)
        if until is None:
            return
        del self._troubled[pair]
        if until > time.monotonic():
            await self.redis.delete(*self._keys(provider, model))
        self._seen.pop(pair, None)
