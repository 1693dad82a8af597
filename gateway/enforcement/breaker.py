"""A circuit breaker per provider and model, shared by every gateway process through Redis.

``threshold`` failures of the provider's own making (5xx, timeouts, broken connections or
streams, garbage answers — not 4xx) within ``window_s`` open the circuit: for ``cooldown_s``
the pair is skipped, so requests fail over at once instead of waiting on a sick upstream. After
the cooldown the circuit is half-open: exactly ONE request, across all processes, is let
through as a probe (``SET NX PX`` on a probe key, inside the same Lua check); everyone else
keeps skipping the pair. The probe's success closes the circuit; its failure re-opens it for
another cooldown. A probe that never reports (its process died) frees the slot after
``probe_ttl_s``. Each process keeps a closed or open state it read for ``LOCAL_S`` seconds, so
the healthy path costs one Redis read per pair per second, not one per request.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

HEALTH_FAILURES = frozenset({"server_error", "timeout", "connection", "stream_broken", "bad_response"})
LOCAL_S = 1.0

# KEYS: fails, open, tripped, probe. ARGV: threshold, window ms, cooldown ms.
# "tripped" outlives "open": it marks a circuit that opened and has not been closed by a success.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) or redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SET', KEYS[2], n, 'PX', ARGV[3])
  redis.call('SET', KEYS[3], 1, 'PX', tonumber(ARGV[3]) + tonumber(ARGV[2]))
  redis.call('DEL', KEYS[4])
  return 1
end
return 0
"""
# KEYS: open, tripped, probe. ARGV: probe ttl ms, a token. 1 closed, 2 you are the probe, 0 skip.
_CHECK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 1 end
if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[1]) then return 2 end
return 0
"""


class CircuitBreaker:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        threshold: int = 5,
        window_s: float = 30.0,
        cooldown_s: float = 15.0,
        probe_ttl_s: float | None = None,
    ) -> None:
        self.redis = redis
        self.threshold = threshold
        self.window_ms = int(window_s * 1000)
        self.cooldown_ms = int(cooldown_s * 1000)
        self.cooldown_s = cooldown_s
        self.probe_ttl_ms = int((probe_ttl_s if probe_ttl_s is not None else max(cooldown_s, 10.0)) * 1000)
        self._fail = redis.register_script(_FAIL)
        self._check = redis.register_script(_CHECK)
        self._seen: dict[tuple[str, str], tuple[float, bool]] = {}  # (provider, model) → (until, open)
        self._troubled: dict[tuple[str, str], float] = {}  # pairs that failed lately, here

    @staticmethod
    def _keys(provider: str, model: str) -> tuple[str, str, str, str]:
        base = f"ov:cb:{provider}:{model}"
        return f"{base}:fails", f"{base}:open", f"{base}:tripped", f"{base}:probe"

    async def allows(self, provider: str, model: str) -> bool:
        pair, now = (provider, model), time.monotonic()
        seen = self._seen.get(pair)
        if seen is not None and seen[0] > now:
            return not seen[1]
        _, is_open, tripped, probe = self._keys(provider, model)
        state = int(await self._check(keys=[is_open, tripped, probe], args=[self.probe_ttl_ms, str(now)]))
        if state == 2:  # half-open and this request is the one probe: never cached
            self._troubled[pair] = now + self.window_ms / 1000
            return True
        self._seen[pair] = (now + LOCAL_S, state == 0)
        if state == 0:
            self._troubled[pair] = now + self.window_ms / 1000
        return state == 1

    async def failure(self, provider: str, model: str, error_class: str) -> bool:
        """Count a failed attempt; returns True if this failure opened (or re-opened) the circuit."""
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
        await self.redis.delete(*self._keys(provider, model))
        self._seen.pop(pair, None)
