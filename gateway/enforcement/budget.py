"""Daily and monthly budgets per customer, per gateway key, per provider key, and — defined as
vault entities (sql/018, docs/billing/budgets.md) — per tag value and per end user: reserve,
then settle.

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

Budget definitions (``onevault budgets set``; scope ``customer | key | tag | end_user``) are read
like routing rules: per customer, cached in-process for a few seconds (``PerCustomer``), so the
request path pays no PostgreSQL read per request and no extra Redis round trip: the budgets of
the request's tags and end user join the customer's in the same reservation script call. Each
defined budget has its own counter (``ov:budget:b:<budget id>:<d|m>:<period>``), so it never
shares — and double-counts — a counter with the customer's own ``budget_daily``/``monthly``.
A *soft* budget is reserved and settled like the others (so its spend and alerts are exact) but
its limit is never checked: it alerts, it never refuses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from gateway.auth.principal import Principal
from warehouse.hashing import hash_key

_MICRO = Decimal(1_000_000)
_DAY_TTL, _MONTH_TTL = 3 * 86_400, 40 * 86_400
SOFT = -1  # the limit a soft budget passes to the script: never checked

# KEYS: budget hashes; ARGV[1]: amount; ARGV[1 + i]: limit of KEYS[i] (-1: soft, never refuses);
# ARGV[1 + n + i]: its TTL.
_RESERVE = """
local amount = tonumber(ARGV[1])
local n = #KEYS
for i = 1, n do
  if redis.call('HEXISTS', KEYS[i], 'seeded') == 0 then return {2, i, 0, 0} end
end
for i = 1, n do
  local limit = tonumber(ARGV[1 + i])
  if limit >= 0 then
    local spent = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
    local reserved = tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
    if spent + reserved + amount > limit then return {0, i, spent, reserved} end
  end
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

SCOPE_TYPES = ("customer", "key", "tag", "end_user")
PERIODS = {"day": "daily", "month": "monthly"}  # a definition's period → the word in messages
TAG_KEYS = ("team", "project", "cost_center")  # the tags spend_daily (and so the forecast) carries
DEFAULT_THRESHOLDS = (50, 80, 100)


def to_micro(amount: Decimal, rounding: str = ROUND_HALF_UP) -> int:
    return int((amount * _MICRO).to_integral_value(rounding=rounding))


def budget_id(customer: str, scope_type: str, scope_value: str, period: str) -> str:
    """The id of the one budget on this scope and period: setting it again changes it. Exact
    (case-sensitive, like tag matching), unlike the vault's hash keys."""
    parts = json.dumps([customer, scope_type, scope_value, period], ensure_ascii=False)
    return "bud_" + hashlib.sha256(parts.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class BudgetDefinition:
    """One row of ``sat_budget_definition`` as it stands now (gateway/admin/budgets.py writes it)."""

    budget_id: str
    customer: str
    scope_type: str  # customer | key | tag | end_user
    scope_value: str  # slug | key id | 'team=search' | end-user id
    period: str  # day | month
    limit: Decimal
    soft: bool = False
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    active: bool = True
    changed_by: str = ""
    changed_at: datetime | None = None

    @property
    def scope(self) -> str:
        return f"{self.scope_type}:{self.scope_value}"

    def applies(self, who: Principal, tags: Mapping[str, str], end_user: str | None) -> bool:
        """Does this budget count the request of ``who`` carrying ``tags`` for ``end_user``?"""
        if not self.active:
            return False
        if self.scope_type == "customer":
            return self.scope_value == who.customer
        if self.scope_type == "key":
            return self.scope_value == who.key_id
        if self.scope_type == "tag":
            name, _, value = self.scope_value.partition("=")
            return tags.get(name) == value
        return self.scope_type == "end_user" and end_user == self.scope_value

    def as_json(self) -> dict[str, Any]:
        return {
            "budget_id": self.budget_id,
            "customer": self.customer,
            "scope_type": self.scope_type,
            "scope_value": self.scope_value,
            "period": self.period,
            "limit": str(self.limit),
            "soft": self.soft,
            "alert_thresholds": list(self.thresholds),
            "active": self.active,
            "changed_by": self.changed_by,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
        }


_DEFINITIONS_SQL = """
select distinct on (s.budget_hk) h.budget_bk, s.*
from raw_vault.lnk_budget_customer l
join raw_vault.hub_budget h using (budget_hk)
join raw_vault.sat_budget_definition s using (budget_hk)
where l.customer_hk = $1
order by s.budget_hk, s.load_dts desc
"""


async def load_budgets(
    pool: asyncpg.Pool, customer: str, *, active_only: bool = True
) -> tuple[BudgetDefinition, ...]:
    """The customer's budget definitions in force now (latest row per budget), by scope."""
    rows = await pool.fetch(_DEFINITIONS_SQL, hash_key(customer))
    found = [
        BudgetDefinition(
            r["budget_bk"],
            customer,
            r["scope_type"],
            r["scope_value"],
            r["period"],
            r["limit_usd"],
            r["is_soft"],
            tuple(r["alert_thresholds"] or ()),
            r["is_active"],
            r["changed_by"],
            r["load_dts"],
        )
        for r in rows
    ]
    return tuple(
        sorted(
            (d for d in found if d.active or not active_only),
            key=lambda d: (SCOPE_TYPES.index(d.scope_type), d.scope_value, d.period),
        )
    )


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget in force for one period: its Redis hash, words, limit, and how to seed it."""

    key: str
    description: str  # e.g. "customer:acme daily", "tag:team=search monthly"
    limit: Decimal
    ttl: int
    seed: tuple[str, ...]  # (kind, *ids) for the vault query that starts it: see ``_seed``
    soft: bool = False
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    budget_id: str | None = None  # defined budgets only (sql/018)


@dataclass(frozen=True, slots=True)
class Reservation:
    keys: tuple[str, ...]
    micro: int
    budgets: tuple[Budget, ...] = ()  # one per key, for alerts
    at: datetime | None = None  # when the request was stamped: its budgets' periods

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
    soft: bool = False
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS
    budget_id: str | None = None
    at: datetime | None = None  # the settled request's time, for the forecast
    period_start: datetime | None = None
    period_end: datetime | None = None

    def forecast(self) -> tuple[Decimal, datetime | None] | None:
        """Linear burn since the period began: (projected period-end spend, when the limit is
        reached — None if not within the period). None when no time has passed yet."""
        if self.at is None or self.period_start is None or self.period_end is None:
            return None
        elapsed = Decimal((self.at - self.period_start).total_seconds())
        total = Decimal((self.period_end - self.period_start).total_seconds())
        if elapsed <= 0 or self.spent <= 0:
            return None
        projected = self.spent * total / elapsed
        if self.spent >= self.limit:
            return projected, self.at
        runs_out = self.period_start + timedelta(seconds=float(self.limit * elapsed / self.spent))
        return projected, runs_out if runs_out < self.period_end else None

    def elapsed_fraction(self) -> float:
        if self.at is None or self.period_start is None or self.period_end is None:
            return 0.0
        return (self.at - self.period_start) / (self.period_end - self.period_start)


@dataclass(frozen=True, slots=True)
class BudgetRefusal:
    scope: str
    period: str
    limit: Decimal
    spent: Decimal
    reserved: Decimal
    key: str = ""  # the budget's Redis key
    budget_id: str | None = None  # a defined budget (sql/018)
    thresholds: tuple[int, ...] = DEFAULT_THRESHOLDS


_SPENT_SQL = """
select coalesce(sum(c.{cost_column}), 0)
from raw_vault.lnk_api_request_context x
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
where x.{scope_column} = $1 and c.event_ts >= $2 and c.event_ts < $3
"""
# A tag's spend: the customer's requests carrying tag $2 = $3 (exists: one count per request).
_TAG_SPENT_SQL = """
select coalesce(sum(c.customer_cost), 0)
from raw_vault.lnk_api_request_context x
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
where x.customer_hk = $1 and c.event_ts >= $4 and c.event_ts < $5
  and exists (
    select 1 from raw_vault.sat_api_request_tags g
    where g.api_request_hk = x.api_request_hk and g.tag_key = $2 and g.tag_value = $3
  )
"""
# An end user's spend (the customer filter uses the context link's customer index).
_END_USER_SPENT_SQL = """
select coalesce(sum(c.customer_cost), 0)
from raw_vault.lnk_api_request_context x
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
where x.customer_hk = $1 and x.end_user_hk = $2 and c.event_ts >= $3 and c.event_ts < $4
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
    def __init__(
        self,
        redis: aioredis.Redis,
        pool: asyncpg.Pool | None = None,
        definitions: Any = None,
    ) -> None:
        """``definitions``: a ``PerCustomer`` cache of each customer's defined budgets (by
        default one over ``pool``, refreshed every 10 s like routing rules; None without a pool)."""
        self.redis = redis
        self.pool = pool
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)
        if definitions is None and pool is not None:
            # Imported here: gateway.pipeline's package imports this module.
            from gateway.pipeline.per_customer import PerCustomer

            definitions = PerCustomer(lambda customer: load_budgets(pool, customer))
        self.definitions = definitions

    def forget(self, customer: str) -> None:
        """An admin change: this process re-reads the customer's budgets at once."""
        if self.definitions is not None:
            self.definitions.forget(customer)

    @staticmethod
    def _scoped(scope: str, daily: Decimal | None, monthly: Decimal | None, at: datetime) -> list[Budget]:
        """The budgets of one scope (``customer:acme``, ``key:…``, ``pkey:…``) in force at ``at``."""
        kind, _, ident = scope.partition(":")
        found = []
        if daily is not None:
            found.append(
                Budget(f"ov:budget:{scope}:d:{at:%Y-%m-%d}", f"{scope} daily", daily, _DAY_TTL, (kind, ident))
            )
        if monthly is not None:
            found.append(
                Budget(
                    f"ov:budget:{scope}:m:{at:%Y-%m}", f"{scope} monthly", monthly, _MONTH_TTL, (kind, ident)
                )
            )
        return found

    @staticmethod
    def _defined(d: BudgetDefinition, at: datetime) -> Budget:
        if d.period == "day":
            key, ttl = f"ov:budget:b:{d.budget_id}:d:{at:%Y-%m-%d}", _DAY_TTL
        else:
            key, ttl = f"ov:budget:b:{d.budget_id}:m:{at:%Y-%m}", _MONTH_TTL
        if d.scope_type == "tag":
            name, _, value = d.scope_value.partition("=")
            seed: tuple[str, ...] = ("tag", d.customer, name, value)
        elif d.scope_type == "end_user":
            seed = ("end_user", d.customer, d.scope_value)
        else:
            seed = (d.scope_type, d.scope_value)
        return Budget(
            key, f"{d.scope} {PERIODS[d.period]}", d.limit, ttl, seed, d.soft, d.thresholds, d.budget_id
        )

    @classmethod
    def _budgets(cls, who: Principal, at: datetime) -> list[Budget]:
        """Every customer and gateway-key budget of the principal's own settings that applies now."""
        c, k = who.customer_limits, who.key_limits
        return cls._scoped(f"customer:{who.customer}", c.budget_daily, c.budget_monthly, at) + cls._scoped(
            f"key:{who.key_id}", k.budget_daily, k.budget_monthly, at
        )

    async def reserve(
        self,
        who: Principal,
        worst_case: Decimal,
        at: datetime | None = None,
        *,
        tags: Mapping[str, str] | None = None,
        end_user: str | None = None,
    ) -> Reservation | BudgetRefusal:
        at = at or datetime.now(timezone.utc)
        budgets = self._budgets(who, at)
        if self.definitions is not None:
            defined = await self.definitions.get(who.customer)  # in-process, refreshed every few s
            budgets += [self._defined(d, at) for d in defined if d.applies(who, tags or {}, end_user)]
        return await self._reserve_all(budgets, worst_case, at)

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
        self, budgets: list[Budget], worst_case: Decimal, at: datetime | None
    ) -> Reservation | BudgetRefusal:
        if not budgets:
            return Reservation((), 0)
        at = at or datetime.now(timezone.utc)
        micro = to_micro(worst_case, ROUND_CEILING)
        keys = [b.key for b in budgets]
        limits = [SOFT if b.soft else to_micro(b.limit, ROUND_HALF_UP) for b in budgets]
        args = [micro, *limits, *(b.ttl for b in budgets)]
        for _ in range(len(keys) + 1):
            ok, index, spent, reserved = await self._reserve(keys=keys, args=args)
            if ok != 2:
                break
            await self._seed(budgets[int(index) - 1], at)
        if ok:
            return Reservation(tuple(keys), micro, tuple(budgets), at)
        refused = budgets[int(index) - 1]
        scope, period = refused.description.rsplit(" ", 1)
        return BudgetRefusal(
            scope,
            period,
            refused.limit,
            Decimal(int(spent)) / _MICRO,
            Decimal(int(reserved)) / _MICRO,
            refused.key,
            refused.budget_id,
            refused.thresholds,
        )

    async def _vault_spent(self, budget: Budget, start: datetime, end: datetime) -> Decimal:
        """What the vault has recorded as spent on ``budget``'s scope in [start, end)."""
        assert self.pool is not None
        kind, *ids = budget.seed
        if kind == "tag":
            customer, name, value = ids
            return await self.pool.fetchval(_TAG_SPENT_SQL, hash_key(customer), name, value, start, end)
        if kind == "end_user":
            customer, user = ids
            return await self.pool.fetchval(
                _END_USER_SPENT_SQL, hash_key(customer), hash_key(customer, user), start, end
            )
        column, cost = _SCOPE_COLUMNS[kind]
        return await self.pool.fetchval(
            _SPENT_SQL.format(scope_column=column, cost_column=cost), hash_key(ids[0]), start, end
        )

    async def _seed(self, budget: Budget, at: datetime) -> None:
        """Start a budget Redis does not know from the spend the vault already holds."""
        spent = Decimal(0)
        if self.pool is not None:
            start, end = _period(budget.key.rsplit(":", 2)[-2], at.astimezone(timezone.utc))
            spent = await self._vault_spent(budget, start, end)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(budget.key, "spent", to_micro(spent))
            pipe.hset(budget.key, "seeded", 1)
            pipe.expire(budget.key, budget.ttl)
            await pipe.execute()

    async def settle(self, reservation: Reservation, actual: Decimal) -> list[BudgetState]:
        """Replace the reservation by the real cost (zero when the call failed); returns each
        budget's settled spend (budget alerts and forecasts are decided on it)."""
        if reservation.empty:
            return []
        spent = await self._settle(keys=list(reservation.keys), args=[reservation.micro, to_micro(actual)])
        at = (reservation.at or datetime.now(timezone.utc)).astimezone(timezone.utc)
        states = []
        for b, s in zip(reservation.budgets, spent, strict=False):
            start, end = _period(b.key.rsplit(":", 2)[-2], at)
            states.append(
                BudgetState(
                    b.key,
                    b.description,
                    b.limit,
                    Decimal(int(s)) / _MICRO,
                    b.soft,
                    b.thresholds,
                    b.budget_id,
                    at,
                    start,
                    end,
                )
            )
        return states

    async def spent(self, key: str) -> tuple[Decimal, Decimal]:
        """(spent, reserved) of one budget hash, in USD — for /ready, admin and tests."""
        values = await self.redis.hmget(key, "spent", "reserved")
        return tuple(Decimal(int(v or 0)) / _MICRO for v in values)  # type: ignore[return-value]


def budget_key(d: BudgetDefinition, at: datetime) -> str:
    """The Redis hash of a defined budget's period at ``at`` (admin ``list`` reads spend from it)."""
    return BudgetGuard._defined(d, at).key


__all__ = [
    "DEFAULT_THRESHOLDS",
    "PERIODS",
    "SCOPE_TYPES",
    "TAG_KEYS",
    "Budget",
    "BudgetDefinition",
    "BudgetGuard",
    "BudgetRefusal",
    "BudgetState",
    "Reservation",
    "budget_id",
    "budget_key",
    "load_budgets",
    "to_micro",
]
