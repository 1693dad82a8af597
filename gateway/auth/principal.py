"""Resolve a bearer key to the customer it belongs to, cached in-process and in Redis.

Lookup is by hash, so the secret is never compared byte by byte; the stored hash is still
checked with ``hmac.compare_digest``. Revocation deletes the Redis entry; the in-process
cache holds an entry for at most ``LOCAL_TTL`` seconds, bounding how long a revoked key works.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from decimal import Decimal

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.auth.keys import key_hash, looks_like_key

LOCAL_TTL = 5.0
REDIS_TTL = 300


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits and budgets of one scope (a customer, or one of its keys); None = no limit."""

    rpm: int | None = None
    tpm: int | None = None
    budget_daily: Decimal | None = None
    budget_monthly: Decimal | None = None

    def to_dict(self) -> dict:
        return {
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_daily": None if self.budget_daily is None else str(self.budget_daily),
            "budget_monthly": None if self.budget_monthly is None else str(self.budget_monthly),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Limits:
        def dec(v: str | None) -> Decimal | None:
            return None if v is None else Decimal(v)

        return cls(d["rpm"], d["tpm"], dec(d["budget_daily"]), dec(d["budget_monthly"]))


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
       cfg.compliance_level
from k
join raw_vault.hub_gateway_key h using (gateway_key_hk)
join raw_vault.lnk_gateway_key_customer l using (gateway_key_hk)
join raw_vault.hub_customer c on c.customer_hk = l.customer_hk
left join lateral (
  select s.markup_pct, s.status, s.rate_limit_rpm, s.rate_limit_tpm, s.budget_daily, s.budget_monthly,
         s.compliance_level
  from raw_vault.sat_customer_config s
  where s.customer_hk = c.customer_hk order by s.load_dts desc limit 1
) cfg on true
"""


class KeyStore:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        self.pool = pool
        self.redis = redis
        self._local: dict[bytes, tuple[float, Principal | None]] = {}

    async def authenticate(self, key: str) -> Principal | None:
        if not looks_like_key(key):
            return None
        digest = key_hash(key)
        now = time.monotonic()
        hit = self._local.get(digest)
        if hit is not None and hit[0] > now:
            principal = hit[1]
        else:
            principal = await self._lookup(digest)
            if len(self._local) > 50_000:
                self._local.clear()
            self._local[digest] = (now + LOCAL_TTL, principal)
        if principal is not None and principal.expires_at is not None and principal.expires_at < time.time():
            return None
        return principal

    async def invalidate(self, digest: bytes) -> None:
        self._local.pop(digest, None)
        await forget(self.redis, [digest])

    async def _lookup(self, digest: bytes) -> Principal | None:
        try:
            cached = await self.redis.get(_cache_key(digest))
            if cached is not None:
                return None if cached == b"-" else Principal.from_json(cached)
        except RedisError:
            cached = None
        principal = await self._from_vault(digest)
        with contextlib.suppress(RedisError):
            await self.redis.set(_cache_key(digest), principal.to_json() if principal else b"-", ex=REDIS_TTL)
        return principal

    async def _from_vault(self, digest: bytes) -> Principal | None:
        row = await self.pool.fetchrow(_LOOKUP, digest)
        if row is None or not hmac.compare_digest(row["key_hash"], digest):
            return None
        now = datetime.now(timezone.utc)
        active = row["status"] == "active" or (
            row["status"] == "rotated" and row["grace_until"] is not None and row["grace_until"] > now
        )
        if not active or (row["customer_status"] or "active") != "active":
            return None
        expires = row["expires_at"]
        return Principal(
            customer=row["customer_bk"],
            key_id=row["gateway_key_bk"],
            key_prefix=row["key_prefix"],
            markup_pct=row["markup_pct"],
            allowed_models=tuple(row["allowed_models"]) if row["allowed_models"] else None,
            expires_at=expires.timestamp() if expires else None,
            customer_limits=Limits(
                row["customer_rpm"],
                row["customer_tpm"],
                row["customer_budget_daily"],
                row["customer_budget_monthly"],
            ),
            key_limits=Limits(
                row["rate_limit_rpm"], row["rate_limit_tpm"], row["budget_daily"], row["budget_monthly"]
            ),
            compliance_level=row["compliance_level"] or "none",
        )


def _cache_key(digest: bytes) -> str:
    return f"ov:auth:{digest.hex()}"


async def forget(redis: aioredis.Redis, digests: list[bytes]) -> None:
    """Drop keys from the shared auth cache after an admin change (revocation, new limits).

    Every gateway process then re-reads the vault within ``LOCAL_TTL`` seconds.
    """
    if digests:
        await redis.delete(*(_cache_key(d) for d in digests))
