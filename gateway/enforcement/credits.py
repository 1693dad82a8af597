"""Prepaid wallets: a prepaid customer spends its credit grants, reserve then settle.

Like budgets (``gateway/enforcement/budget.py``): before a provider call the request's
worst-case customer cost is *reserved* against the customer's wallet in one Lua script (the
check and the hold are atomic), and after the call the hold is replaced by the real cost. So N
concurrent requests against an almost empty wallet can never together spend more than it
holds. Amounts are integer micro-units in Redis (holds rounded up, settlements to the nearest);
the vault keeps exact Decimals.

The wallet's state lives in Redis (``ov:credit:<customer>``: ``balance`` as seeded, ``spent``
and ``reserved`` since); the ledger of record is the vault. A wallet Redis does not know
(first use, Redis lost its data), whose grants changed (``forget``, called by grant and void),
or whose seed is older than its next grant expiry or ``REFRESH_S`` is re-seeded from the vault
with what its grants have left (``gateway.admin.credits.balances``: the same allocation
the invoices use). Holds of requests in flight survive a re-seed; spend settled but still in
the event stream, not yet loaded, is the only spend a re-seed can miss — seconds' worth.

Scope: the wallet is the sum of what every usable grant in the customer's currency has left;
a grant's scope decides which usage it pays on the invoice, not which request it admits (at
admission the provider is not chosen yet). Postpaid customers never touch Redis here.

Below the customer's ``low_balance_threshold`` one ``credit.low_balance`` webhook is queued on
the signed alert stream (``gateway/alerts/worker.py``), once per state of its grants: a new
grant or a void re-arms it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.admin.credits import balances, grant_rows, wallet
from gateway.admin.customers import current_config
from gateway.auth.principal import Principal

log = logging.getLogger("onevault.credits")

_MICRO = Decimal(1_000_000)
REFRESH_S = 600  # a seeded wallet is re-read from the vault at least this often
_TTL_S = 40 * 86_400
_CLAIM_TTL_S = 40 * 86_400
SEED_TIMEOUT_S = 5.0

# KEYS[1]: wallet; ARGV: amount, now (epoch s), ttl. {2}: seed first; {0, ...}: refused.
_RESERVE = """
if redis.call('HGET', KEYS[1], 'seeded') ~= '1'
   or tonumber(ARGV[2]) >= tonumber(redis.call('HGET', KEYS[1], 'valid_until') or '0') then
  return {2, 0, 0, 0}
end
local balance = tonumber(redis.call('HGET', KEYS[1], 'balance') or '0')
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
local amount = tonumber(ARGV[1])
if spent + reserved + amount > balance then return {0, balance, spent, reserved} end
redis.call('HINCRBY', KEYS[1], 'reserved', amount)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, balance, spent, reserved}
"""
# KEYS[1]: wallet; ARGV: balance, valid_until, threshold (-1: none), gen, now, ttl. Writes only
# when the wallet still needs it (another process may have seeded it meanwhile); keeps holds.
_SEED = """
if redis.call('HGET', KEYS[1], 'seeded') == '1'
   and tonumber(ARGV[5]) < tonumber(redis.call('HGET', KEYS[1], 'valid_until') or '0') then
  return 0
end
redis.call('HSET', KEYS[1], 'balance', ARGV[1], 'spent', 0, 'valid_until', ARGV[2],
           'threshold', ARGV[3], 'gen', ARGV[4], 'seeded', 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
return 1
"""
# KEYS[1]: wallet; ARGV: held amount to release, actual spend. Returns balance, spent,
# threshold, gen (nil when Redis lost the wallet meanwhile: the next request re-seeds it).
_SETTLE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(ARGV[1]))
local spent = redis.call('HINCRBY', KEYS[1], 'spent', tonumber(ARGV[2]))
return {redis.call('HGET', KEYS[1], 'balance') or '0', spent,
        redis.call('HGET', KEYS[1], 'threshold') or '-1', redis.call('HGET', KEYS[1], 'gen') or ''}
"""


def to_micro(amount: Decimal, rounding: str = ROUND_HALF_UP) -> int:
    return int((amount * _MICRO).to_integral_value(rounding=rounding))


def wallet_key(customer: str) -> str:
    return f"ov:credit:{customer}"


@dataclass(frozen=True, slots=True)
class CreditHold:
    customer: str
    micro: int


@dataclass(frozen=True, slots=True)
class CreditRefusal:
    balance: Decimal  # what the wallet held when it was seeded
    spent: Decimal
    reserved: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.balance - self.spent - self.reserved


async def forget(redis: aioredis.Redis, customer: str) -> None:
    """The customer's grants changed: the next request re-seeds its wallet from the vault."""
    await redis.hset(wallet_key(customer), "seeded", 0)


class CreditGuard:
    def __init__(
        self, redis: aioredis.Redis, pool: asyncpg.Pool | None, alert_stream: str | None = None
    ) -> None:
        self.redis = redis
        self.pool = pool
        self.alert_stream = alert_stream
        self._reserve = redis.register_script(_RESERVE)
        self._seed_script = redis.register_script(_SEED)
        self._settle = redis.register_script(_SETTLE)
        self._seeding: dict[str, asyncio.Lock] = {}
        self._claimed: set[tuple[str, str]] = set()

    async def reserve(
        self, who: Principal, worst_case: Decimal, at: datetime | None = None
    ) -> CreditHold | CreditRefusal | None:
        """Hold ``worst_case`` against a prepaid customer's wallet (None: postpaid, nothing held).
        Raises RedisError/OSError, or asyncpg/timeout errors when a seed cannot be read."""
        if not who.prepaid:
            return None
        key, micro = wallet_key(who.customer), to_micro(worst_case, ROUND_CEILING)
        for _ in range(3):
            ok, balance, spent, reserved = await self._reserve(
                keys=[key], args=[micro, int(time.time()), _TTL_S]
            )
            if ok != 2:
                break
            await self._seed(who.customer, at or datetime.now(timezone.utc))
        else:
            raise RedisError("credit wallet could not be seeded")
        if ok == 1:
            return CreditHold(who.customer, micro)
        return CreditRefusal(*(Decimal(int(v)) / _MICRO for v in (balance, spent, reserved)))

    async def _seed(self, customer: str, at: datetime) -> None:
        lock = self._seeding.setdefault(customer, asyncio.Lock())
        async with lock:  # one vault read per process at a time; the script decides who writes
            if self.pool is None:
                raise RedisError("no vault to seed a credit wallet from")
            balance, valid_until, threshold, gen = await asyncio.wait_for(
                self.wallet_state(self.pool, customer, at), SEED_TIMEOUT_S
            )
            await self._seed_script(
                keys=[wallet_key(customer)],
                args=[to_micro(balance), valid_until, threshold, gen, int(time.time()), _TTL_S],
            )

    @staticmethod
    async def wallet_state(pool: asyncpg.Pool, customer: str, at: datetime) -> tuple[Decimal, int, int, str]:
        """(balance, valid until (epoch s), threshold in micro-units or -1, grants' generation)."""
        config = await current_config(pool, customer)
        grants = await balances(pool, customer, at)
        changes = [g.expires_at for g in grants if g.status == "active" and g.expires_at is not None]
        changes += [g.effective_at for g in grants if g.status == "scheduled" and g.effective_at is not None]
        until = min([at + timedelta(seconds=REFRESH_S), *changes])
        rows = await grant_rows(pool, customer)
        gen = hashlib.sha256(
            json.dumps(sorted((r["grant_id"], r["load_dts"].isoformat()) for r in rows)).encode()
        ).hexdigest()[:16]
        threshold = config.low_balance_threshold
        return (
            wallet(grants, config.currency),
            int(until.timestamp()),
            -1 if threshold is None else to_micro(threshold),
            gen,
        )

    async def settle(self, hold: CreditHold, actual: Decimal) -> None:
        """Replace the hold by the real cost; below the threshold, queue the low-balance webhook."""
        state = await self._settle(keys=[wallet_key(hold.customer)], args=[hold.micro, to_micro(actual)])
        if not state:
            return
        balance, spent, threshold, gen = (int(state[0]), int(state[1]), int(state[2]), _text(state[3]))
        if threshold >= 0 and balance - spent < threshold:
            await self._low_balance(
                hold.customer, gen, Decimal(balance - spent) / _MICRO, Decimal(threshold) / _MICRO
            )

    async def release(self, hold: CreditHold) -> None:
        """The request never reached a provider: give its hold back."""
        await self._settle(keys=[wallet_key(hold.customer)], args=[hold.micro, 0])

    async def exhausted(self, customer: str, refusal: CreditRefusal) -> None:
        """Refused for lack of credit: below any threshold it has — the webhook, if not sent yet."""
        values = await self.redis.hmget(wallet_key(customer), "threshold", "gen")
        threshold = int(values[0] or -1)
        if threshold >= 0:
            left = max(refusal.balance - refusal.spent, Decimal(0))
            await self._low_balance(customer, _text(values[1]), left, Decimal(threshold) / _MICRO)

    async def _low_balance(self, customer: str, gen: str, balance: Decimal, threshold: Decimal) -> None:
        if self.alert_stream is None or (customer, gen) in self._claimed:
            return
        try:
            if await self.redis.set(f"ov:alert:credit:{customer}:{gen}", 1, nx=True, ex=_CLAIM_TTL_S):
                now = datetime.now(timezone.utc)
                job = {
                    "type": "credit.low_balance",
                    "alert_id": f"credit:{customer}|low_balance|{gen}",
                    "customer": customer,
                    "scope": f"credit:{customer}",
                    "period": "balance",
                    "period_start": now.date().isoformat(),
                    "threshold_pct": 0,
                    "budget": format(threshold, "f"),  # the threshold (the delivery log's columns)
                    "spent": format(balance, "f"),
                    "balance": format(balance, "f"),
                    "threshold": format(threshold, "f"),
                    "crossed_at": now.isoformat(),
                    "attempt": 1,
                }
                await self.redis.xadd(self.alert_stream, {"job": json.dumps(job)})
            self._claimed.add((customer, gen))
        except (RedisError, OSError) as exc:  # a webhook late is better than a request refused
            log.warning("could not queue a low-balance alert (%s)", type(exc).__name__)

    async def state(self, customer: str) -> dict[str, Decimal]:
        """The wallet as Redis holds it (balance as seeded, spent and reserved since) — for tests."""
        values = await self.redis.hmget(wallet_key(customer), "balance", "spent", "reserved")
        return dict(
            zip(
                ("balance", "spent", "reserved"), (Decimal(int(v or 0)) / _MICRO for v in values), strict=True
            )
        )


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")
