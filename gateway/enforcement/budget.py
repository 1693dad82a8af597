"""Daily and monthly budgets per customer, per gateway key and per provider key: reserve, then
settle.

Before a provider call the worst-case customer cost is *reserved* atomically against every
budget that applies (one Lua script: either all scopes take the reservation or none does);
after the call the reservation is replaced by the real cost. So N concurrent requests against a
nearly exhausted budget can never together spend more than it allows — the failure mode of
gateways that check spend first and add it afterwards. Amounts are integer micro-dollars in
Redis (reservations rounded up, settlements to the nearest); the vault keeps exact Decimals.
Budget state lives in Redis (AOF-persisted); the ledger of record remains the vault: a budget
Redis does not know yet (a new period, or Redis lost its data) is first seeded with what the
vault has already recorded as spent in that period — events still in the stream, not yet
loaded, are the only spend it can miss, seconds' worth at most.

A customer's own provider key budget counts *provider* cost (what the customer pays that
provider on that key), reserved per candidate just before the call; customer and gateway-key
budgets count customer cost (with markup).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import asyncpg
import redis.asyncio as aioredis

from gateway.auth.principal import Principal
from warehouse.hashing import hash_key

_MICRO = Decimal(1_000_000)
_DAY_TTL, _MONTH_TTL = 3 * 86_400, 40 * 86_400

# KEYS: budget hashes; ARGV[1]: amount; ARGV[1 + i]: limit of KEYS[i]; ARGV[1 + n + i]: its TTL.
_RESERVE = """
local amount = tonumber(ARGV[1])
local n = #KEYS
for i = 1, n do
  if redis.call('HEXISTS', KEYS[i], 'seeded') == 0 then return {2, i, 0, 0} end
end
for i = 1, n do
  local limit = tonumber(ARGV[1 + i])
  local spent = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
  if spent + reserved + amount > limit then return {0, i, spent, reserved} end
end
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], 'reserved', amount)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1 + n + i]))
end
return {1, 0, 0, 0}
"""
# KEYS: budget hashes; ARGV[1]: reserved amount to release; ARGV[2]: actual spend.
_SETTLE = """
local spent = {}
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'reserved', -tonumber(ARGV[1]))
  spent[i] = redis.call('HINCRBY', KEYS[i], 'spent', tonumber(ARGV[2]))
end
return spent
"""


def to_micro(amount: Decimal, rounding: str = ROUND_HALF_UP) -> int:
    return int((amount * _MICRO).to_integral_value(rounding=rounding))


@dataclass(frozen=True, slots=True)
class Reservation:
    keys: tuple[str, ...]
    micro: int
    budgets: tuple[tuple[str, Decimal], ...] = ()  # (description, limit) per key, for alerts

    @property
    def empty(self) -> bool:
        return not self.keys


@dataclass(frozen=True, slots=True)
class BudgetState:
    """One budget after a settlement: ``ov:budget:<scope>:<d|m>:<period>``, its words, numbers."""

    key: str
    description: str  # e.g. "customer:acme daily"
    limit: Decimal
    spent: Decimal


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    scope: str
    period: str
    limit: Decimal
    spent: Decimal
    reserved: Decimal
    key: str = ""  # the budget's Redis key


_SPENT_SQL = """
select coalesce(sum(c.{cost_column}), 0)
from raw_vault.lnk_api_request_context x
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
where x.{scope_column} = $1 and c.event_ts >= $2 and c.event_ts < $3
"""


# Budget scope → (its link column in lnk_api_request_context, the cost it counts).
_SCOPE_COLUMNS = {
    "customer": ("customer_hk", "customer_cost"),
    "key": ("gateway_key_hk", "customer_cost"),
    "pkey": ("provider_key_hk", "provider_cost"),
}


def _period(kind: str, at: datetime) -> tuple[datetime, datetime]:
    if kind == "d":
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


class BudgetGuard:
    def __init__(self, redis: aioredis.Redis, pool: asyncpg.Pool | None = None) -> None:
        self.redis = redis
        self.pool = pool
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)

    @staticmethod
    def _scoped(
        scope: str, daily: Decimal | None, monthly: Decimal | None, at: datetime
    ) -> list[tuple[str, str, Decimal, int]]:
        """(redis key, description, limit, ttl) of one scope's budgets in force at ``at``."""
        found = []
        if daily is not None:
            found.append((f"ov:budget:{scope}:d:{at:%Y-%m-%d}", f"{scope} daily", daily, _DAY_TTL))
        if monthly is not None:
            found.append((f"ov:budget:{scope}:m:{at:%Y-%m}", f"{scope} monthly", monthly, _MONTH_TTL))
        return found

    @classmethod
    def _budgets(cls, who: Principal, at: datetime) -> list[tuple[str, str, Decimal, int]]:
        """Every customer and gateway-key budget that applies now."""
        c, k = who.customer_limits, who.key_limits
        return cls._scoped(f"customer:{who.customer}", c.budget_daily, c.budget_monthly, at) + cls._scoped(
            f"key:{who.key_id}", k.budget_daily, k.budget_monthly, at
        )

    async def reserve(
        self, who: Principal, worst_case: Decimal, at: datetime | None = None
    ) -> Reservation | BudgetRefusal:
        return await self._reserve_all(self._budgets(who, at or datetime.now(timezone.utc)), worst_case, at)

    async def reserve_provider_key(
        self,
        key_id: str,
        daily: Decimal | None,
        monthly: Decimal | None,
        worst_case: Decimal,
        at: datetime | None = None,
    ) -> Reservation | BudgetRefusal:
        """Hold a call's worst-case provider cost against a customer's own provider key budget."""
        at = at or datetime.now(timezone.utc)
        return await self._reserve_all(self._scoped(f"pkey:{key_id}", daily, monthly, at), worst_case, at)

    async def _reserve_all(
        self, budgets: list[tuple[str, str, Decimal, int]], worst_case: Decimal, at: datetime | None
    ) -> Reservation | BudgetRefusal:
        if not budgets:
            return Reservation((), 0)
        micro = to_micro(worst_case, ROUND_CEILING)
        keys = [b[0] for b in budgets]
        args = [micro, *(to_micro(b[2], ROUND_HALF_UP) for b in budgets), *(b[3] for b in budgets)]
        for _ in range(len(keys) + 1):
            ok, index, spent, reserved = await self._reserve(keys=keys, args=args)
            if ok != 2:
                break
            await self._seed(budgets[int(index) - 1], at or datetime.now(timezone.utc))
        if ok:
            return Reservation(tuple(keys), micro, tuple((b[1], b[2]) for b in budgets))
        key, what, limit, _ = budgets[int(index) - 1]
        scope, period = what.rsplit(" ", 1)
        return BudgetRefusal(
            scope, period, limit, Decimal(int(spent)) / _MICRO, Decimal(int(reserved)) / _MICRO, key
        )

    async def _seed(self, budget: tuple[str, str, Decimal, int], at: datetime) -> None:
        """Start a budget Redis does not know from the spend the vault already holds."""
        key, what, _, ttl = budget
        spent = Decimal(0)
        if self.pool is not None:
            kind, scope_id = what.rsplit(" ", 1)[0].split(":", 1)
            column, cost = _SCOPE_COLUMNS[kind]
            start, end = _period(key.rsplit(":", 2)[-2], at.astimezone(timezone.utc))
            spent = await self.pool.fetchval(
                _SPENT_SQL.format(scope_column=column, cost_column=cost), hash_key(scope_id), start, end
            )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "spent", to_micro(spent))
            pipe.hset(key, "seeded", 1)
            pipe.expire(key, ttl)
            await pipe.execute()

    async def settle(self, reservation: Reservation, actual: Decimal) -> list[BudgetState]:
        """Replace the reservation by the real cost (zero when the call failed); returns each
        budget's settled spend (budget alerts are decided on it)."""
        if reservation.empty:
            return []
        spent = await self._settle(keys=list(reservation.keys), args=[reservation.micro, to_micro(actual)])
        return [
            BudgetState(key, what, limit, Decimal(int(s)) / _MICRO)
            for key, (what, limit), s in zip(reservation.keys, reservation.budgets, spent, strict=False)
        ]

    async def spent(self, key: str) -> tuple[Decimal, Decimal]:
        """(spent, reserved) of one budget hash, in USD — for /ready, admin and tests."""
        values = await self.redis.hmget(key, "spent", "reserved")
        return tuple(Decimal(int(v or 0)) / _MICRO for v in values)  # type: ignore[return-value]
