"""Provider performance for the ``fastest`` and ``most_available`` strategies.

The source of record is the dbt mart ``marts.provider_performance_5m`` (the vault's attempts
in 5-minute windows, of which it reads the tries on the platform's own key: ``platform_*``);
the gateway reads its latest windows and keeps them for a few seconds.
The mart may not exist yet (dbt has not run) or be stale (the refresh stopped): for every pair
it has no fresh window for, the gateway uses its OWN recent window instead — attempts,
successes and success latency per provider+model per minute, counted in Redis from the
attempts every gateway process makes. Counting is batched in memory and flushed at most once
a second, so it adds no Redis round trip to a request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("onevault.performance")

Pair = tuple[str, str]  # (provider, model)
WINDOW_MINUTES = 5  # the gateway's own window
MART_HORIZON = timedelta(minutes=15)  # mart windows older than this are stale
_BUCKET_TTL_S = (WINDOW_MINUTES + 2) * 60

# The platform key's tries only (platform_*): a customer's own key or base URL is another upstream,
# counted in its own window (``OwnWindow`` under ``<provider>~<key id>``), never in everyone's.
_MART_SQL = """
select provider, model, sum(platform_attempts)::bigint as attempts,
       sum(platform_successes)::bigint as successes,
       sum(platform_p50_latency_ms * platform_successes) / nullif(sum(platform_successes), 0) as latency_ms,
       max(window_end) as last_window_end
from marts.provider_performance_5m
where window_end > now() - $1::interval and platform_attempts > 0
group by provider, model
"""


@dataclass(frozen=True, slots=True)
class PairStats:
    attempts: int
    successes: int
    latency_ms: float | None  # typical latency of a successful call (mart: p50; own: mean)
    source: str  # "mart" | "gateway"

    @property
    def availability(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None


class OwnWindow:
    """The gateway's own per-minute counts in Redis, shared by every process."""

    def __init__(self, redis: aioredis.Redis, flush_every_s: float = 1.0) -> None:
        self.redis = redis
        self.flush_every_s = flush_every_s
        self._pending: dict[tuple[str, str, int], list[int]] = {}  # (p, m, minute) → [n, ok, ms]
        self._last_flush = time.monotonic()

    @staticmethod
    def _key(provider: str, model: str, minute: int) -> str:
        return f"ov:perf:{provider}:{model}:{minute}"

    async def observe(self, provider: str, model: str, ok: bool, latency_ms: float) -> None:
        counts = self._pending.setdefault((provider, model, int(time.time() // 60)), [0, 0, 0])
        counts[0] += 1
        if ok:
            counts[1] += 1
            counts[2] += round(latency_ms)
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            await self.flush()

    async def run(self) -> None:
        """Flush on a timer too, so a quiet gateway's last second still reaches the others."""
        while True:
            await asyncio.sleep(self.flush_every_s)
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        self._last_flush = time.monotonic()
        if not pending:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for (provider, model, minute), (n, ok, ms) in pending.items():
                    key = self._key(provider, model, minute)
                    pipe.hincrby(key, "n", n)
                    pipe.hincrby(key, "ok", ok)
                    pipe.hincrby(key, "ms", ms)
                    pipe.expire(key, _BUCKET_TTL_S)
                await pipe.execute()
        except (RedisError, OSError) as exc:  # lose a second of statistics, never a request
            log.warning("could not record provider performance (%s)", type(exc).__name__)

    async def read(self, pairs: list[Pair]) -> dict[Pair, PairStats]:
        now_minute = int(time.time() // 60)
        minutes = range(now_minute - WINDOW_MINUTES + 1, now_minute + 1)
        async with self.redis.pipeline(transaction=False) as pipe:
            for provider, model in pairs:
                for minute in minutes:
                    pipe.hmget(self._key(provider, model, minute), "n", "ok", "ms")
            replies = await pipe.execute()
        found: dict[Pair, PairStats] = {}
        for i, pair in enumerate(pairs):
            n = ok = ms = 0
            for reply in replies[i * len(minutes) : (i + 1) * len(minutes)]:
                n += int(reply[0] or 0)
                ok += int(reply[1] or 0)
                ms += int(reply[2] or 0)
            if n:
                found[pair] = PairStats(n, ok, ms / ok if ok else None, "gateway")
        return found


class PerformanceSource:
    """The mart's fresh windows first, the gateway's own window for every other pair."""

    def __init__(self, pool: asyncpg.Pool | None, window: OwnWindow | None, *, cache_s: float = 5.0) -> None:
        self.pool = pool
        self.window = window
        self.cache_s = cache_s
        self._mart: tuple[float, dict[Pair, PairStats]] = (0.0, {})

    async def mart(self) -> dict[Pair, PairStats]:
        """The mart's latest windows, read at most once per ``cache_s`` per process."""
        expires, cached = self._mart
        if self.pool is None or expires > time.monotonic():
            return cached
        found: dict[Pair, PairStats] = {}
        try:
            for r in await self.pool.fetch(_MART_SQL, MART_HORIZON):
                latency = float(r["latency_ms"]) if r["latency_ms"] is not None else None
                found[(r["provider"], r["model"])] = PairStats(
                    int(r["attempts"]), int(r["successes"]), latency, "mart"
                )
        except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError, asyncpg.UndefinedColumnError):
            pass  # dbt has not built the mart (or its platform_* columns) yet: the own window serves
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("provider performance mart unreadable (%s)", type(exc).__name__)
        self._mart = (time.monotonic() + self.cache_s, found)
        return found

    async def stats(self, pairs: list[Pair]) -> dict[Pair, PairStats]:
        found = {p: s for p, s in (await self.mart()).items() if p in set(pairs)}
        missing = [p for p in pairs if p not in found]
        if missing and self.window is not None:
            try:
                await self.window.flush()  # this process's latest attempts count too
                found |= await self.window.read(missing)
            except (RedisError, OSError) as exc:
                log.warning("own performance window unreadable (%s)", type(exc).__name__)
        return found
