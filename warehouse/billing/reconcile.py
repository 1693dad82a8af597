"""What the raw vault says a month should bill, and whether the marts agree to the cent.

The raw-vault side is computed here in SQL straight from the satellites (not from dbt), so a
bug in a model cannot hide itself: a cost event belongs to the month of its ``event_ts`` (UTC)
and to the customer of its request; for a month already finalised for a customer only events
loaded at or before that snapshot count (later ones are corrections on a later invoice).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from warehouse.billing.periods import Period
from warehouse.billing.plan_lines import plan_line_problems

# The month's cost events (first load of each), with their customer and model.
_EVENTS = """
with fin as (
  select h.invoice_bk, min(s.load_dts) as finalised_at
  from raw_vault.sat_invoice_snapshot s join raw_vault.hub_invoice h using (invoice_hk)
  where s.status = 'finalised' and s.period_start = $1
  group by h.invoice_bk
), ce as (
  select distinct on (d.cost_event_hk) d.cost_event_hk, d.load_dts, d.is_priced, d.customer_cost
  from raw_vault.sat_cost_event_details d
  where d.event_ts >= $2 and d.event_ts < $3
  order by d.cost_event_hk, d.load_dts
), events as (
  select c.customer_bk as customer, m.provider_bk as provider, m.model_bk as model, ce.*,
         fin.finalised_at
  from ce
  join raw_vault.lnk_cost_event_api_request l on l.cost_event_hk = ce.cost_event_hk
  join raw_vault.lnk_api_request_context x on x.api_request_hk = l.api_request_hk
  join raw_vault.hub_customer c on c.customer_hk = x.customer_hk
  join raw_vault.hub_model m on m.model_hk = x.model_hk
  left join fin on fin.invoice_bk = c.customer_bk || '/' || $4
)
"""

VAULT_TOTALS = (
    _EVENTS
    + """
select customer, count(*) as events, count(*) filter (where not is_priced) as unpriced,
       coalesce(sum(customer_cost), 0) as customer_cost
from events
where finalised_at is null or load_dts <= finalised_at
group by customer
order by customer
"""
)

UNPRICED = (
    _EVENTS
    + """
select customer, provider, model, count(*) as events
from events
where not is_priced and finalised_at is null
group by customer, provider, model
order by customer, provider, model
"""
)

MART_TOTALS = """
select i.invoice_id, i.customer_slug as customer, i.usage_customer_cost_exact, i.usage_amount,
       i.subtotal, i.tax, i.total,
       coalesce(sum(l.amount_exact) filter (where l.line_type in ('usage', 'cache')), 0) as usage_lines_exact,
       coalesce(sum(l.amount) filter (where l.line_type in ('usage', 'cache')), 0) as usage_lines_amount,
       count(l.*) filter (where l.line_type in ('usage', 'cache')) as usage_lines,
       coalesce(sum(l.amount), 0) as lines_amount
from marts.invoices i
left join marts.invoice_lines l on l.invoice_id = i.invoice_id
where i.billing_period_start = $1
group by i.invoice_id, i.customer_slug, i.usage_customer_cost_exact, i.usage_amount,
         i.subtotal, i.tax, i.total
order by i.customer_slug
"""


@dataclass(frozen=True, slots=True)
class Unpriced:
    customer: str
    provider: str
    model: str
    events: int

    def __str__(self) -> str:
        return f"{self.customer}: {self.provider}/{self.model} × {self.events}"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """One customer's month: raw vault vs the invoice mart."""

    customer: str
    vault_customer_cost: Decimal  # unrounded sum of the month's cost events
    mart_customer_cost: Decimal | None  # invoices.usage_customer_cost_exact (None: no invoice)
    usage_lines_exact: Decimal
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


async def unpriced_usage(conn: asyncpg.Connection | asyncpg.Pool, period: Period) -> list[Unpriced]:
    """Unpriced usage in a month not yet finalised for its customer (it would bill as $0)."""
    rows = await conn.fetch(UNPRICED, period.start, period.start_ts, period.end_ts, period.key)
    return [Unpriced(r["customer"], r["provider"], r["model"], r["events"]) for r in rows]


async def reconcile(conn: asyncpg.Connection | asyncpg.Pool, period: Period) -> list[Reconciliation]:
    """Compare each customer's month in the raw vault with ``marts.invoices``/``invoice_lines``.

    Usage here is the month's own cost events: ``usage`` and ``cache`` lines (corrections bill
    earlier months' late events and are reconciled in the month they belong to).
    Exact sums must be equal (no rounding involved); an invoice's rounded figures must add up
    (subtotal = Σ line amounts, total = subtotal + tax) and its usage amount must be the vault's
    exact cost rounded per line, so within half a cent per usage line of the rounded total.
    The pricing-plan lines (markup bands, savings share) must be what the vault's events and the
    month-end settings give (``warehouse.billing.plan_lines``), to the 12th decimal.
    """
    vault = {
        r["customer"]: r["customer_cost"]
        for r in await conn.fetch(VAULT_TOTALS, period.start, period.start_ts, period.end_ts, period.key)
    }
    marts = {r["customer"]: r for r in await conn.fetch(MART_TOTALS, period.start)}
    plan_problems = await plan_line_problems(conn, period)
    found = []
    for customer in sorted(vault.keys() | marts.keys()):
        raw = vault.get(customer, Decimal(0))
        mart = marts.get(customer)
        problems: list[str] = []
        if mart is None:
            problems.append(f"no invoice in marts.invoices for {raw} of cost events")
            found.append(Reconciliation(customer, raw, None, Decimal(0), tuple(problems)))
            continue
        exact, lines_exact = mart["usage_customer_cost_exact"] or Decimal(0), mart["usage_lines_exact"]
        if exact != raw:
            problems.append(f"usage_customer_cost_exact {exact} ≠ cost events {raw}")
        if lines_exact != raw:
            problems.append(f"usage lines sum to {lines_exact} ≠ cost events {raw}")
        slack = Decimal("0.005") * max(1, mart["usage_lines"])
        if abs(mart["usage_lines_amount"] - raw.quantize(Decimal("0.01"))) > slack:
            problems.append(f"rounded usage {mart['usage_lines_amount']} is not {raw} rounded per line")
        if mart["lines_amount"] != mart["subtotal"]:
            problems.append(f"subtotal {mart['subtotal']} ≠ Σ line amounts {mart['lines_amount']}")
        if mart["subtotal"] + mart["tax"] != mart["total"]:
            problems.append(f"total {mart['total']} ≠ subtotal {mart['subtotal']} + tax {mart['tax']}")
        problems += plan_problems.pop(customer, [])
        found.append(Reconciliation(customer, raw, exact, lines_exact, tuple(problems)))
    for customer, problems in sorted(plan_problems.items()):  # only corrections this month
        found.append(Reconciliation(customer, Decimal(0), None, Decimal(0), tuple(problems)))
    return found
