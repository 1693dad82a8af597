"""Resolve a bearer key to the customer it belongs to, cached in-process and in Redis.

Lookup is by hash, so the secret is never compared byte by byte; the stored hash is still
checked with ``hmac.compare_digest``. Revocation deletes the Redis entry; the in-process
cache holds an entry for at most ``LOCAL_TTL`` seconds, bounding how long a revoked key works.

Hardened against floods and a writable Redis (docs/security/authentication-and-admission.md):
the Redis entry is sealed (``gateway.auth.seal``) and only valid keys are cached there; refused
keys live in their own bounded in-process cache, so a flood of unknown keys cannot evict valid
ones; failed attempts are counted per client address and refused with 429 past the limit
(read in the same round trip as the cache entry); and vault lookups run a few at a time, so a
flood cannot take the whole pool. Expiry and a rotated key's grace end are checked on every
request, cached or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, cast

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.auth.keys import key_hash, looks_like_key
from gateway.auth.local_cache import TtlCache
from gateway.auth.seal import PrincipalSeal
from gateway.auth.throttle import FailureThrottle
from warehouse.plans import DEFAULT_TIER, Tier, tiers

log = logging.getLogger("onevault.auth")

LOCAL_TTL = 5.0
REDIS_TTL = 300
LOCAL_KEYS = 50_000  # principals of valid keys held per process
LOCAL_REFUSALS = 10_000  # refused key hashes held per process: a flood only churns these
LOOKUP_CONCURRENCY = 4  # vault lookups at once per process, of the pool's 10 connections
LOOKUP_WAIT_S = 5.0


class AuthThrottled(Exception):
    """Too many failed authentications from this address this minute: 429, retry later."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry in {retry_after}s")
        self.retry_after = retry_after


class AuthUnavailable(Exception):
    """The vault could not be asked in time who a key belongs to: 503."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits and budgets of one scope (a customer, or one of its keys); None = no limit.
    ``concurrent`` (requests in flight): None = the gateway's default, 0 = no limit. A
    customer's are its effective limits: its own setting, else its tier's default
    (dbt_project/seeds/tiers.csv); ``rph`` and ``monthly_tokens`` are customer limits only."""

    rpm: int | None = None
    tpm: int | None = None
    budget_daily: Decimal | None = None
    budget_monthly: Decimal | None = None
    concurrent: int | None = None
    rph: int | None = None
    monthly_tokens: int | None = None  # tokens per UTC calendar month
    # Every rate limit here is the tier's default (the customer set none of its own): a plan's
    # allowance, served while Redis cannot count it (docs/billing/plans.md, "When Redis is away").
    from_plan: bool = False

    def to_dict(self) -> dict:
        return {
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_daily": None if self.budget_daily is None else str(self.budget_daily),
            "budget_monthly": None if self.budget_monthly is None else str(self.budget_monthly),
            "concurrent": self.concurrent,
            "rph": self.rph,
            "monthly_tokens": self.monthly_tokens,
            "from_plan": self.from_plan,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Limits:
        def dec(v: str | None) -> Decimal | None:
            return None if v is None else Decimal(v)

        return cls(
            d["rpm"],
            d["tpm"],
            dec(d["budget_daily"]),
            dec(d["budget_monthly"]),
            d.get("concurrent"),
            d.get("rph"),
            d.get("monthly_tokens"),
            bool(d.get("from_plan")),
        )


NO_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Principal:
    customer: str
    key_id: str
    key_prefix: str
    markup_pct: Decimal | None
    allowed_models: tuple[str, ...] | None
    expires_at: float | None  # epoch seconds
    customer_limits: Limits = NO_LIMITS
    key_limits: Limits = NO_LIMITS
    compliance_level: str = "none"  # none | hipaa | gdpr | sox
    grace_until: float | None = None  # epoch seconds: a rotated key's last moment
    prepaid: bool = False  # sql/017 billing_mode: spends from its credit wallet (enforcement/credits.py)

    def usable(self, now: float) -> bool:
        """Not expired and, for a rotated key, still within its grace period."""
        return (self.expires_at is None or self.expires_at >= now) and (
            self.grace_until is None or self.grace_until > now
        )

    def to_json(self) -> bytes:
        d = asdict(self)
        d["markup_pct"] = None if self.markup_pct is None else str(self.markup_pct)
        d["customer_limits"] = self.customer_limits.to_dict()
        d["key_limits"] = self.key_limits.to_dict()
        return orjson.dumps(d)

    @classmethod
    def from_json(cls, data: bytes) -> Principal:
        d = orjson.loads(data)
        d["markup_pct"] = None if d["markup_pct"] is None else Decimal(d["markup_pct"])
        d["allowed_models"] = None if d["allowed_models"] is None else tuple(d["allowed_models"])
        d["customer_limits"] = Limits.from_dict(d.get("customer_limits") or NO_LIMITS.to_dict())
        d["key_limits"] = Limits.from_dict(d.get("key_limits") or NO_LIMITS.to_dict())
        return cls(**d)


_LOOKUP = """
with k as (
  select distinct on (s.gateway_key_hk) s.gateway_key_hk, s.key_hash, s.key_prefix, s.status, s.expires_at,
         s.grace_until, s.allowed_models, s.rate_limit_rpm, s.rate_limit_tpm, s.budget_daily, s.budget_monthly
  from raw_vault.sat_gateway_key_details s
  where s.key_hash = $1
  order by s.gateway_key_hk, s.load_dts desc
)
select k.*, h.gateway_key_bk, c.customer_bk, cfg.markup_pct, cfg.status as customer_status,
       cfg.rate_limit_rpm as customer_rpm, cfg.rate_limit_tpm as customer_tpm,
       cfg.budget_daily as customer_budget_daily, cfg.budget_monthly as customer_budget_monthly,
       cfg.compliance_level, cfg.max_concurrent, cfg.max_concurrent_per_key, cfg.billing_mode,
       cfg.tier, cfg.rate_limit_rph as customer_rph, cfg.monthly_token_quota, cfg.markup_plan
from k
join raw_vault.hub_gateway_key h using (gateway_key_hk)
join raw_vault.lnk_gateway_key_customer l using (gateway_key_hk)
join raw_vault.hub_customer c on c.customer_hk = l.customer_hk
left join lateral (
  select s.markup_pct, s.status, s.rate_limit_rpm, s.rate_limit_tpm, s.budget_daily, s.budget_monthly,
         s.compliance_level, s.max_concurrent, s.max_concurrent_per_key, s.billing_mode,
         s.tier, s.rate_limit_rph, s.monthly_token_quota, s.markup_plan
  from raw_vault.sat_customer_config s
  where s.customer_hk = c.customer_hk order by s.load_dts desc limit 1
) cfg on true
"""


class KeyStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        *,
        seal: PrincipalSeal,
        failures: FailureThrottle | None = None,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.seal = seal
        self.failures = failures
        self._valid: TtlCache[bytes, Principal] = TtlCache(LOCAL_KEYS, LOCAL_TTL)
        self._refused: TtlCache[bytes, bool] = TtlCache(LOCAL_REFUSALS, LOCAL_TTL)
        self._lookups = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def authenticate(self, key: str, address: str | None = None) -> Principal | None:
        """The key's principal, or None (401). Raises ``AuthThrottled`` when ``address`` has
        failed too often this minute and the key would need a vault lookup, ``AuthUnavailable``
        when that lookup cannot start in time."""
        if not looks_like_key(key):
            return None
        digest = key_hash(key)
        found, principal = self._valid.get(digest)
        if not found and not self._refused.get(digest)[0]:
            principal = await self._lookup(digest, address)
            if principal is None:
                self._refused.put(digest, True)
            else:
                self._valid.put(digest, principal)
        if principal is None or not principal.usable(time.time()):
            if self.failures is not None:
                await self.failures.failed(address)
            return None
        return principal

    async def invalidate(self, digest: bytes) -> None:
        self._valid.pop(digest)
        self._refused.pop(digest)
        await forget(self.redis, [digest])

    async def _lookup(self, digest: bytes, address: str | None) -> Principal | None:
        # One round trip, as before: the cached entry and, beside it, the address's failures.
        names = [_cache_key(digest)]
        if self.failures is not None and address:
            names.append(self.failures.key(address))
        try:
            cached, *failures = cast(list[Any], await self.redis.mget(names))
        except (RedisError, OSError):
            cached, failures = None, []
        if cached is not None:
            principal = self._opened(digest, cached)
            if principal is not None:
                return principal
        if failures and self.failures is not None and self.failures.exceeded(failures[0]):
            raise AuthThrottled(self.failures.retry_after())
        principal = await self._bounded_vault_lookup(digest)
        with contextlib.suppress(RedisError, OSError):
            if principal is not None:
                await self.redis.set(
                    _cache_key(digest), self.seal.seal(digest, principal.to_json()), ex=REDIS_TTL
                )
            elif cached is not None:
                await self.redis.delete(_cache_key(digest))  # a forged entry, or a stale one
        return principal

    def _opened(self, digest: bytes, cached: bytes) -> Principal | None:
        payload = self.seal.open(digest, cached)
        if payload is not None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return Principal.from_json(payload)
        log.warning("cached principal for %s failed its seal check; asking the vault", digest.hex()[:12])
        return None

    async def _bounded_vault_lookup(self, digest: bytes) -> Principal | None:
        try:
            async with asyncio.timeout(LOOKUP_WAIT_S):
                await self._lookups.acquire()
        except TimeoutError:
            raise AuthUnavailable() from None
        try:
            return await self._from_vault(digest)
        finally:
            self._lookups.release()

    async def _from_vault(self, digest: bytes) -> Principal | None:
        row = await self.pool.fetchrow(_LOOKUP, digest)
        if row is None or not hmac.compare_digest(row["key_hash"], digest):
            return None
        now = datetime.now(timezone.utc)
        rotated = row["status"] == "rotated"
        active = row["status"] == "active" or (
            rotated and row["grace_until"] is not None and row["grace_until"] > now
        )
        if not active or (row["customer_status"] or "active") != "active":
            return None
        expires = row["expires_at"]
        tier = tier_of(row["tier"])
        own = (row["customer_rpm"], row["customer_tpm"], row["customer_rph"], row["monthly_token_quota"])
        return Principal(
            customer=row["customer_bk"],
            key_id=row["gateway_key_bk"],
            key_prefix=row["key_prefix"],
            # A markup plan bills the month's markup on the invoice, band by band: requests
            # carry none of their own (docs/billing/plans.md).
            markup_pct=Decimal(0) if row["markup_plan"] else row["markup_pct"],
            allowed_models=tuple(row["allowed_models"]) if row["allowed_models"] else None,
            expires_at=expires.timestamp() if expires else None,
            customer_limits=Limits(
                _own_or(row["customer_rpm"], tier.rate_limit_rpm if tier else None),
                row["customer_tpm"],
                row["customer_budget_daily"],
                row["customer_budget_monthly"],
                row["max_concurrent"],
                _own_or(row["customer_rph"], tier.rate_limit_rph if tier else None),
                _own_or(row["monthly_token_quota"], tier.monthly_token_quota if tier else None),
                from_plan=all(v is None for v in own),
            ),
            key_limits=Limits(
                row["rate_limit_rpm"],
                row["rate_limit_tpm"],
                row["budget_daily"],
                row["budget_monthly"],
                row["max_concurrent_per_key"],  # a customer setting, for each of its keys
            ),
            compliance_level=row["compliance_level"] or "none",
            grace_until=row["grace_until"].timestamp() if rotated else None,
            prepaid=row["billing_mode"] == "prepaid",
        )


def tier_of(name: str | None) -> Tier | None:
    """The customer's tier from the seed (None for a name the seed no longer has: no defaults)."""
    return tiers().get(name or DEFAULT_TIER)


def _own_or(own: int | None, default: int | None) -> int | None:
    return default if own is None else own


def _cache_key(digest: bytes) -> str:
    return f"ov:auth:{digest.hex()}"


async def forget(redis: aioredis.Redis, digests: list[bytes]) -> None:
    """Drop keys from the shared auth cache after an admin change (revocation, new limits).

    Every gateway process then re-reads the vault within ``LOCAL_TTL`` seconds.
    """
    if digests:
        await redis.delete(*(_cache_key(d) for d in digests))
