"""Requests/min, tokens/min and requests in flight per gateway key and per customer, atomic in Redis.

One Lua script checks every scope's counters for the current minute and its shared concurrency
slots (gateway/enforcement/concurrency.py), and only if all scopes allow the request increments
the request counters and takes a slot in each — so concurrent requests from any number of gateway
processes can never pass a limit together, and a slot costs no extra round trip. A principal
with neither (only the gateway's per-process default slots) makes no round trip at all. Tokens are
counted after the answer (the real usage), in the same pipeline that gives the slots back; a
scope whose tokens for the minute have reached its limit refuses new requests until the next
minute. Fixed one-minute windows, the granularity customers configure limits in.

A customer also has requests per hour (another fixed window in the same script) and a monthly
token quota (a counter per UTC calendar month, checked in the script and counted with the
minute's tokens): its own setting, else its tier's default (docs/billing/plans.md). A quota
counter lives in Redis only: if Redis loses it, the month's count starts again from zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.auth.principal import Principal
from gateway.enforcement.concurrency import RETRY_AFTER_S, Lease, LeaseBook, slot_key

# KEYS: per scope, its minute request counter, minute token counter, slot set, hour request
# counter and month token counter. ARGV: per scope, its rpm, tpm, concurrency, rph and monthly
# token limits (-1 = none); then the counters' TTL, now (ms), the new lease's expiry (ms), its
# token, the slot sets' TTL (ms), the hour counter's TTL (s).
_ADMIT = """
local scopes = #KEYS / 5
local n = #ARGV
local ttl, now, expiry = tonumber(ARGV[n - 5]), ARGV[n - 4], ARGV[n - 3]
local token, slot_ttl, hour_ttl = ARGV[n - 2], ARGV[n - 1], tonumber(ARGV[n])
for i = 1, scopes do
  local k, a = 5 * (i - 1), 5 * (i - 1)
  local rpm, tpm, cc = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local rph, quota = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  if rpm >= 0 then
    local used = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
    if used + 1 > rpm then return {0, i, 'requests', rpm, used} end
  end
  if rph >= 0 then
    local used = tonumber(redis.call('GET', KEYS[k + 4]) or '0')
    if used + 1 > rph then return {0, i, 'requests_hour', rph, used} end
  end
  if tpm >= 0 then
    local tokens = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
    if tokens >= tpm then return {0, i, 'tokens', tpm, tokens} end
  end
  if quota >= 0 then
    local tokens = tonumber(redis.call('GET', KEYS[k + 5]) or '0')
    if tokens >= quota then return {0, i, 'quota', quota, tokens} end
  end
  if cc >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', now)
    local held = redis.call('ZCARD', KEYS[k + 3])
    if held >= cc then return {0, i, 'concurrent', cc, held} end
  end
end
local remaining = -1
for i = 1, scopes do
  local k, a = 5 * (i - 1), 5 * (i - 1)
  local rpm, tpm, cc = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local rph = tonumber(ARGV[a + 4])
  if rpm >= 0 or tpm >= 0 then
    local used = redis.call('INCR', KEYS[k + 1])
    redis.call('EXPIRE', KEYS[k + 1], ttl)
    if rpm >= 0 and (remaining < 0 or rpm - used < remaining) then remaining = rpm - used end
  end
  if rph >= 0 then
    redis.call('INCR', KEYS[k + 4])
    redis.call('EXPIRE', KEYS[k + 4], hour_ttl)
  end
  if cc >= 0 then
    redis.call('ZADD', KEYS[k + 3], expiry, token)
    redis.call('PEXPIRE', KEYS[k + 3], slot_ttl)
  end
end
return {1, 0, 'ok', 0, remaining}
"""
HOUR_TTL_S = 7200  # an hour's request counter outlives its hour


def month_reset(now: float) -> datetime:
    """When a monthly token quota starts again: the first of the next month, 00:00 UTC."""
    today = datetime.fromtimestamp(now, UTC)
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def month_key(scope: str, now: float) -> str:
    return f"ov:rl:{scope}:m{datetime.fromtimestamp(now, UTC):%Y%m}:tok"


def hour_key(scope: str, now: float) -> str:
    return f"ov:rl:{scope}:h{int(now // 3600)}:req"


@dataclass(frozen=True, slots=True)
class Scope:
    name: str  # customer:<slug> | key:<key id>
    rpm: int | None
    tpm: int | None
    concurrent: int | None  # the customer's own limit, shared by every process; None = none
    per_process: int | None = None  # the gateway default, counted in this process; None = none
    rph: int | None = None  # requests per hour (customer scope only)
    monthly_tokens: int | None = None  # tokens per UTC month (customer scope only)
    from_plan: bool = False  # the counted limits are all the tier's defaults (Limits.from_plan)

    @property
    def counted(self) -> bool:
        """Whether the scope needs shared counters (not only slots)."""
        return (
            self.rpm is not None
            or self.tpm is not None
            or self.rph is not None
            or self.monthly_tokens is not None
        )

    @property
    def counts_tokens(self) -> bool:
        return self.tpm is not None or self.monthly_tokens is not None


@dataclass(frozen=True, slots=True)
class RateVerdict:
    allowed: bool
    scope: str = ""
    kind: str = ""  # "requests" | "requests_hour" | "tokens" | "quota" | "concurrent"
    limit: int = 0
    retry_after: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    lease: Lease | None = None  # the request's concurrency slots, given back when it settles
    used: int = 0  # what the window had used when refused
    resets_at: datetime | None = None  # when a refused window starts again


def _limits(own: int | None, default: int) -> tuple[int | None, int | None]:
    """(shared, per-process) slot limits: a customer's setting is shared by every process (0 = no
    limit at all), unset falls back to the gateway default, held per process (0 = none)."""
    if own is None:
        return None, default or None
    return own or None, None


@dataclass(slots=True)
class _Shared:
    """What the shared (Redis) part of admission decided, and the slots it took."""

    verdict: RateVerdict
    lease_token: str = ""
    lease_keys: list[str] = field(default_factory=list)
    local_keys: list[str] = field(default_factory=list)  # shared limits held locally (Redis away)

    @property
    def allowed(self) -> bool:
        return self.verdict.allowed


_LONG_WINDOWS = ("requests_hour", "quota")


def _refused_long(scope: str, kind: str, limit: int, used: int, now: float) -> RateVerdict:
    """A refusal by the hour's requests or the month's token quota, with when it resets."""
    if kind == "quota":
        resets = month_reset(now)
        name = "tokens-month"
    else:
        resets = datetime.fromtimestamp((int(now // 3600) + 1) * 3600, UTC)
        name = "requests-hour"
    wait = max(1, int(resets.timestamp() - now + 0.999))
    return RateVerdict(
        False,
        scope=scope,
        kind=kind,
        limit=limit,
        retry_after=wait,
        used=used,
        resets_at=resets,
        headers={
            f"x-ratelimit-limit-{name}": str(limit),
            f"x-ratelimit-remaining-{name}": "0",
            f"x-ratelimit-reset-{name}": f"{wait}s",
            "retry-after": str(wait),
        },
    )


class RateLimiter:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        leases: LeaseBook | None = None,
        per_customer: int = 0,
        per_key: int = 0,
    ) -> None:
        self.redis = redis
        self._script = redis.register_script(_ADMIT)
        self.leases = leases or LeaseBook(redis)
        self.per_customer = per_customer  # gateway defaults (ONEVAULT_MAX_CONCURRENT_PER_*)
        self.per_key = per_key

    def _scopes(self, who: Principal) -> list[Scope]:
        c, k = who.customer_limits, who.key_limits
        scopes = [
            Scope(
                f"customer:{who.customer}",
                c.rpm,
                c.tpm,
                *_limits(c.concurrent, self.per_customer),
                rph=c.rph,
                monthly_tokens=c.monthly_tokens,
                from_plan=c.from_plan,
            ),
            Scope(f"key:{who.key_id}", k.rpm, k.tpm, *_limits(k.concurrent, self.per_key)),
        ]
        return [s for s in scopes if s.counted or s.concurrent is not None or s.per_process is not None]

    async def admit(self, who: Principal, now: float | None = None) -> RateVerdict:
        scopes = self._scopes(who)
        if not scopes:
            return RateVerdict(True)
        local = [(slot_key(s.name), s.per_process) for s in scopes if s.per_process is not None]
        full = self.leases.hold_local(local)
        if full >= 0:
            return self._too_many(scopes[full].name, local[full][1])
        local_keys = [key for key, _ in local]
        shared = [s for s in scopes if s.counted or s.concurrent is not None]
        if not shared:  # nothing the other processes need to know: no round trip
            return RateVerdict(True, lease=self.leases.lease("", [], local_keys))
        try:
            try:
                taken = await self._admit_shared(shared, now)
            except (RedisError, OSError):
                if any(s.counted and not s.from_plan for s in shared):
                    raise  # rate limits cannot be checked: admission's fail-closed rule decides
                # only slots and the plan's allowances: served uncounted meanwhile (plans.md)
                taken = self._hold_shared_locally(shared)
        except BaseException:  # refused by the fail-closed rule, or the client left meanwhile
            self.leases.free_local(local_keys)
            raise
        if not taken.allowed:
            self.leases.free_local(local_keys)
            return taken.verdict
        lease = self.leases.lease(taken.lease_token, taken.lease_keys, local_keys + taken.local_keys)
        return RateVerdict(True, headers=taken.verdict.headers, lease=lease)

    async def _admit_shared(self, scopes: list[Scope], now: float | None) -> _Shared:
        """The admission script: every scope's minute counters and shared slots, atomically."""
        now = time.time() if now is None else now
        minute = int(now // 60)
        reset = 60 - int(now % 60)
        keys, args = [], []
        for s in scopes:
            keys += [
                f"ov:rl:{s.name}:{minute}:req",
                f"ov:rl:{s.name}:{minute}:tok",
                slot_key(s.name),
                hour_key(s.name, now),
                month_key(s.name, now),
            ]
            limits = (s.rpm, s.tpm, s.concurrent, s.rph, s.monthly_tokens)
            args += [-1 if limit is None else limit for limit in limits]
        token = self.leases.new_token()
        tail: list[int | str] = [
            120,
            int(now * 1000),
            self.leases.expiry_ms(now),
            token,
            int(self.leases.lease_s * 2000),
            HOUR_TTL_S,
        ]
        ok, index, kind, limit, used = await self._script(keys=keys, args=[*args, *tail])
        if ok:
            headers = {"x-ratelimit-reset-requests": f"{reset}s"}
            if int(used) >= 0:
                headers["x-ratelimit-remaining-requests"] = str(int(used))
            slots = [slot_key(s.name) for s in scopes if s.concurrent is not None]
            return _Shared(RateVerdict(True, headers=headers), token, slots)
        scope = scopes[int(index) - 1].name
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "concurrent":
            return _Shared(self._too_many(scope, int(limit)))
        if kind in _LONG_WINDOWS:
            return _Shared(_refused_long(scope, kind, int(limit), int(used), now))
        return _Shared(
            RateVerdict(
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
        )

    def _hold_shared_locally(self, scopes: list[Scope]) -> _Shared:
        """Redis away and only slots to check: hold the shared limits in this process meanwhile."""
        limited = [(slot_key(s.name), s.concurrent) for s in scopes if s.concurrent is not None]
        full = self.leases.hold_local(limited)
        if full >= 0:
            return _Shared(self._too_many(scopes[full].name, limited[full][1]))
        return _Shared(RateVerdict(True), local_keys=[key for key, _ in limited])

    @staticmethod
    def _too_many(scope: str, limit: int) -> RateVerdict:
        return RateVerdict(
            False,
            scope=scope,
            kind="concurrent",
            limit=limit,
            retry_after=RETRY_AFTER_S,
            headers={"retry-after": str(RETRY_AFTER_S)},
        )

    async def count_tokens(self, who: Principal, tokens: int, now: float | None = None) -> None:
        """Add a finished request's real token usage to each scope with a tokens/min limit."""
        await self.finish(who, tokens, None, now)

    async def finish(
        self, who: Principal, tokens: int, lease: Lease | None, now: float | None = None
    ) -> None:
        """A request ended: count its tokens and give its slots back, in one round trip."""
        scopes = [s for s in self._scopes(who) if s.counts_tokens] if tokens > 0 else []
        if lease is not None and not lease.keys:
            self.leases.release(None, lease)  # per-process slots only: nothing to send
            lease = None
        if not scopes and lease is None:
            return
        now = time.time() if now is None else now
        minute = int(now // 60)
        async with self.redis.pipeline(transaction=False) as pipe:
            for s in scopes:
                if s.tpm is not None:
                    pipe.incrby(f"ov:rl:{s.name}:{minute}:tok", tokens)
                    pipe.expire(f"ov:rl:{s.name}:{minute}:tok", 120)
                if s.monthly_tokens is not None:  # the month's quota: kept a day past its reset
                    month = month_key(s.name, now)
                    pipe.incrby(month, tokens)
                    pipe.expireat(month, int(month_reset(now).timestamp()) + 86400)
            self.leases.release(pipe, lease)
            await pipe.execute()
