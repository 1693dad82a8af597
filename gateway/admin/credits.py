"""Prepaid credit grants: grant, void, and the live ledger of what each grant has left.

A grant is a hub row (its id), a link to its customer and one satellite row per state; voiding
writes a new row with status ``voided`` (insert-only: a grant is never deleted, and its
consumption on finalised invoices stays). What a grant has used is never stored: it is the
allocation of the customer's usage to its grants — month by month, by priority then expiry,
scope respected — computed by one SQL function, ``raw_vault.ov_allocate_credits``
(sql/017), which the invoices (dbt: ``credit_grant_allocations``) and the prepaid wallet
(``gateway/enforcement/credits.py``) both call, so the balance a request is refused on and the
credit lines of the invoice can never disagree.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import asyncpg

from gateway.admin.customers import SOURCE, AdminError, current_config, customer_exists
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.hashing import GHOST_HK, hash_key
from warehouse.loader import VaultLoader

MAX_PRIORITY = 1000
DEFAULT_PRIORITY = 50  # like Stripe's credit grants: lower applies first
_SCOPE = re.compile(r"^(provider|model):(.{1,200})$|^tag:([a-z_]{1,40})=(.{1,200})$")
# Tag scopes cover the tags invoices are split by (chargeback): team, project, cost_center and
# the end user (``user`` / ``end_user``).
TAG_KEYS = ("team", "project", "cost_center", "end_user", "user")
_MAX_AMOUNT = Decimal("9999999999999999.99")  # numeric(18,2)


@dataclass(frozen=True, slots=True)
class Scope:
    kind: str | None = None  # None = all usage | provider | model | tag
    key: str | None = None  # the tag key
    value: str | None = None

    def __str__(self) -> str:
        if self.kind is None:
            return "all usage"
        return f"tag:{self.key}={self.value}" if self.kind == "tag" else f"{self.kind}:{self.value}"


def parse_scope(text: str | None) -> Scope:
    """``provider:<p>``, ``model:<m>`` or ``tag:<k>=<v>``; empty or None = all usage."""
    if not text:
        return Scope()
    match = _SCOPE.match(text.strip())
    if not match:
        raise AdminError("scope is provider:<provider>, model:<model> or tag:<key>=<value>", field="scope")
    if match.group(1):
        return Scope(match.group(1), None, match.group(2).strip())
    key = match.group(3)
    if key not in TAG_KEYS:
        raise AdminError(f"a tag scope's key is one of {', '.join(TAG_KEYS)}", field="scope")
    return Scope("tag", "end_user" if key == "user" else key, match.group(4).strip())


def new_grant_id() -> str:
    return f"cg_{secrets.token_hex(6)}"


_CURRENT = """
select distinct on (s.credit_grant_hk)
       h.credit_grant_bk as grant_id, c.customer_bk as customer, s.*,
       (select min(v.load_dts) from raw_vault.sat_credit_grant_details v
         where v.credit_grant_hk = s.credit_grant_hk) as granted_at
from raw_vault.sat_credit_grant_details s
join raw_vault.hub_credit_grant h using (credit_grant_hk)
join raw_vault.lnk_credit_grant_customer l using (credit_grant_hk)
join raw_vault.hub_customer c on c.customer_hk = l.customer_hk
where {where}
order by s.credit_grant_hk, s.load_dts desc
"""


async def grant_rows(pool: asyncpg.Pool, customer: str) -> list[asyncpg.Record]:
    """Every grant of the customer in its current state (voided ones included)."""
    rows = await pool.fetch(_CURRENT.format(where="l.customer_hk = $1"), hash_key(customer))
    return sorted(rows, key=lambda r: (r["granted_at"], r["grant_id"]))


async def _grant_row(pool: asyncpg.Pool, grant_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(_CURRENT.format(where="s.credit_grant_hk = $1"), hash_key(grant_id))
    if row is None:
        raise AdminError(f"no credit grant {grant_id!r}")
    return row


# What a grant row carries besides who changed it and why it was voided (the spec's columns).
_GRANT_COLUMNS = tuple(
    a for a in t.SAT_CREDIT_GRANT_DETAILS.attributes if a not in ("changed_by", "void_reason")
)


def _values(changed_by: str, row: dict[str, Any]) -> tuple:
    return t.SAT_CREDIT_GRANT_DETAILS.row(
        changed_by=changed_by, void_reason=row.get("void_reason"), **{c: row[c] for c in _GRANT_COLUMNS}
    )


async def grant_credit(
    pool: asyncpg.Pool,
    customer: str,
    amount: Decimal,
    *,
    changed_by: str,
    currency: str | None = None,
    expires_at: datetime | None = None,
    priority: int = DEFAULT_PRIORITY,
    scope: Scope | str | None = None,
    description: str | None = None,
    effective_at: datetime | None = None,
    record_source: str = SOURCE,
) -> dict[str, Any]:
    """Record a new grant; its currency defaults to the customer's invoice currency."""
    if not await customer_exists(pool, customer):
        raise AdminError(f"no customer {customer!r}; create it with `onevault customers create {customer}`")
    amount = Decimal(amount)
    if not Decimal(0) < amount <= _MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
        raise AdminError("amount must be positive, in cents (at most 2 decimal places)", field="amount")
    if not 0 <= priority <= MAX_PRIORITY:
        raise AdminError(f"priority is 0 to {MAX_PRIORITY} (lower applies first)", field="priority")
    now = datetime.now(timezone.utc)
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=timezone.utc)
    if expires_at is not None and expires_at <= max(now, effective_at or now):
        raise AdminError("expires must be in the future (and after the grant takes effect)", field="expires")
    currency = (currency or (await current_config(pool, customer)).currency).upper()
    if not re.match(r"^[A-Z]{3}$", currency):
        raise AdminError("currency is an ISO 4217 code such as USD or EUR", field="currency")
    if description is not None and not re.match(r"^[^\x00-\x1f\x7f]{1,200}$", description):
        raise AdminError("description is 1-200 printable characters", field="description")
    scope = scope if isinstance(scope, Scope) else parse_scope(scope)
    grant_id = new_grant_id()
    row = {
        "status": "active",
        "amount": amount,
        "currency": currency,
        "priority": priority,
        "effective_at": effective_at,
        "expires_at": expires_at,
        "scope_kind": scope.kind,
        "scope_key": scope.key,
        "scope_value": scope.value,
        "description": description,
    }
    batch = VaultBatch()
    customer_hk = batch.hub(t.HUB_CUSTOMER, customer, record_source=record_source)
    hk = batch.hub(t.HUB_CREDIT_GRANT, grant_id, record_source=record_source)
    batch.link(
        t.LNK_CREDIT_GRANT_CUSTOMER, (hk, customer_hk), (grant_id, customer), record_source=record_source
    )
    batch.sat(t.SAT_CREDIT_GRANT_DETAILS, hk, _values(changed_by, row), record_source=record_source)
    await VaultLoader(pool).load(batch)
    return {"grant_id": grant_id, "customer": customer, **row, "scope": str(scope)}


async def void_grant(
    pool: asyncpg.Pool,
    grant_id: str,
    *,
    changed_by: str,
    reason: str | None = None,
    record_source: str = SOURCE,
) -> dict[str, Any]:
    """Void a grant (a new row): it pays no invoice not yet finalised, and no request."""
    current = await _grant_row(pool, grant_id)
    if current["status"] == "voided":
        raise AdminError(f"credit grant {grant_id} is already voided")
    row = {**dict(current), "status": "voided", "void_reason": reason}
    batch = VaultBatch()
    hk = batch.hub(t.HUB_CREDIT_GRANT, grant_id, record_source=record_source)
    batch.sat(t.SAT_CREDIT_GRANT_DETAILS, hk, _values(changed_by, row), record_source=record_source)
    await VaultLoader(pool).load(batch)
    return {"grant_id": grant_id, "customer": current["customer"], "status": "voided", "void_reason": reason}


# -- the live ledger -------------------------------------------------------------------------

# The customer's usage since its first grant's month, bucketed as the invoices bucket it
# (business_vault.chargeback_weights): month × provider × model × team × project × cost
# center × end user, cached answers without provider or model.
_USAGE = """
with ev as (
  select c.event_ts, c.customer_cost, c.optimisation,
         x.api_request_hk, x.provider_hk, x.model_hk, x.end_user_hk
  from raw_vault.lnk_api_request_context x
  join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
  join raw_vault.sat_cost_event_details c using (cost_event_hk)
  where x.customer_hk = $1 and c.event_ts >= $2
)
select to_char(date_trunc('month', ev.event_ts at time zone 'UTC'), 'YYYY-MM-DD') as period,
       case when ev.optimisation like 'cache%' or ev.provider_hk = $3 then null
            else p.provider_bk end as provider,
       case when ev.optimisation like 'cache%' or ev.model_hk = $3 then null
            else m.model_bk end as model,
       coalesce(tg.team, 'unallocated') as team,
       coalesce(tg.project, 'unallocated') as project,
       coalesce(tg.cost_center, 'unallocated') as cost_center,
       coalesce(case when ev.end_user_hk = $3 then null else u.end_user_bk end, 'unallocated') as end_user,
       sum(ev.customer_cost)::text as amount
from ev
left join raw_vault.hub_provider p on p.provider_hk = ev.provider_hk
left join raw_vault.hub_model m on m.model_hk = ev.model_hk
left join raw_vault.hub_end_user u on u.end_user_hk = ev.end_user_hk
left join lateral (
  select max(g.tag_value) filter (where g.tag_key = 'team') as team,
         max(g.tag_value) filter (where g.tag_key = 'project') as project,
         max(g.tag_value) filter (where g.tag_key = 'cost_center') as cost_center
  from raw_vault.sat_api_request_tags g where g.api_request_hk = ev.api_request_hk
) tg on true
group by 1, 2, 3, 4, 5, 6, 7
"""
_FINALISED = """
select to_char(period_start, 'YYYY-MM-DD') as period, min(load_dts) as cutoff
from raw_vault.sat_invoice_snapshot
where customer_bk = $1 and status = 'finalised'
group by period_start
"""
_ALLOCATE = """
select grant_id, sum(amount) as used, max(billing_period_start) as last_used_period
from raw_vault.ov_allocate_credits($1::jsonb, $2::jsonb)
group by grant_id
"""


def grants_json(rows: list[Any]) -> list[dict[str, Any]]:
    """Grants as ``ov_allocate_credits`` reads them (voided_at: when the void row was loaded)."""
    out = []
    for r in rows:
        out.append(
            {
                "grant_id": r["grant_id"],
                "amount": str(r["amount"]),
                "currency": r["currency"],
                "priority": r["priority"],
                "granted_at": r["granted_at"].isoformat(),
                "effective_at": _iso(r["effective_at"]),
                "expires_at": r["expires_at"].isoformat() if r["expires_at"] else None,
                "voided_at": r["load_dts"].isoformat() if r["status"] == "voided" else None,
                "scope_kind": r["scope_kind"],
                "scope_key": r["scope_key"],
                "scope_value": r["scope_value"],
            }
        )
    return out


@dataclass(frozen=True, slots=True)
class GrantBalance:
    grant_id: str
    customer: str
    status: str  # active | voided | expired | exhausted | scheduled
    amount: Decimal
    used: Decimal
    remaining: Decimal  # what it can still pay: 0 once voided or expired
    currency: str
    priority: int
    effective_at: datetime | None  # None: usable on any invoice still open when granted
    expires_at: datetime | None
    scope: str
    description: str | None
    granted_at: datetime
    changed_by: str

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:
            value = getattr(self, name)
            out[name] = fixed(value) if isinstance(value, Decimal) else value
            if isinstance(value, datetime):
                out[name] = value.isoformat()
        return out


def fixed(amount: Decimal) -> str:
    """Money as fixed-point text, never ``0E-12``."""
    return format(amount, "f")


async def balances(pool: asyncpg.Pool, customer: str, at: datetime | None = None) -> list[GrantBalance]:
    """Each grant of the customer with what it has used and has left, from the vault now."""
    at = at or datetime.now(timezone.utc)
    rows = await grant_rows(pool, customer)
    if not rows:
        return []
    currency = (await current_config(pool, customer)).currency
    # Usage from the earliest month a grant can pay: the oldest invoice still open when it was
    # granted, or its first effective month (finalised months are cut at their finalisation).
    cutoffs = {r["period"]: r["cutoff"] for r in await pool.fetch(_FINALISED, customer)}
    since = _first_open_month(rows, cutoffs)
    usage = [
        {**dict(r), "currency": currency, "cutoff": _iso(cutoffs.get(r["period"]))}
        for r in await pool.fetch(_USAGE, hash_key(customer), since, GHOST_HK)
    ]
    used = {
        r["grant_id"]: r["used"]
        for r in await pool.fetch(_ALLOCATE, json.dumps(grants_json(rows)), json.dumps(usage))
    }
    return [_balance(r, used.get(r["grant_id"], Decimal(0)), at) for r in rows]


def _first_open_month(rows: list[Any], cutoffs: dict[str, datetime]) -> datetime:
    """The earliest month any grant may pay: finalised months before a grant's load are closed
    to it; an effective date starts it later. Without finalisations, the customer's first month."""
    starts = []
    for r in rows:
        start = r["effective_at"] or datetime(2000, 1, 1, tzinfo=timezone.utc)
        closed = [p for p, cut in cutoffs.items() if cut <= r["granted_at"]]
        if closed:
            after = datetime.fromisoformat(max(closed)).replace(tzinfo=timezone.utc)
            start = max(start, (after.replace(day=28) + timedelta(days=4)).replace(day=1))
        starts.append(start.astimezone(timezone.utc))
    return min(starts).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _balance(r: Any, used: Decimal, at: datetime) -> GrantBalance:
    left = r["amount"] - used
    if r["status"] == "voided":
        status = "voided"
    elif r["expires_at"] is not None and r["expires_at"] <= at:
        status = "expired"
    elif r["effective_at"] is not None and r["effective_at"] > at:
        status = "scheduled"
    elif left <= 0:
        status = "exhausted"
    else:
        status = "active"
    scope = str(Scope(r["scope_kind"], r["scope_key"], r["scope_value"]))
    return GrantBalance(
        r["grant_id"],
        r["customer"],
        status,
        r["amount"],
        used,
        left if status in ("active", "scheduled") else Decimal(0),
        r["currency"],
        r["priority"],
        r["effective_at"],
        r["expires_at"],
        scope,
        r["description"],
        r["granted_at"],
        r["changed_by"],
    )


def wallet(grants: list[GrantBalance], currency: str | None = None) -> Decimal:
    """What the customer can spend now: the remaining balance of its usable grants."""
    return sum(
        (
            g.remaining
            for g in grants
            if g.status == "active" and (currency is None or g.currency == currency)
        ),
        Decimal("0.00"),  # an empty wallet prints as money: 0.00
    )
