"""What the raw vault says a month's pricing-plan lines should be (docs/billing/plans.md).

Computed straight from the satellites, independently of dbt, like ``reconcile``'s usage: the
cost events an invoice bills — its month's own (for a finalised month, those loaded by its
finalisation), plus the late events of earlier months it carries as corrections (a month
finalised before the event was loaded passes the event on to the next month that was not) —
give the month's savings and the provider spend recorded without a flat markup; the settings in
force at the month's end give the savings share and the markup plan; the plan's bands come from
the seed through ``warehouse.plans``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import asyncpg

from warehouse import plans
from warehouse.billing.periods import Period

EXACT = Decimal("1e-12")  # the marts' money precision, numeric(24,12)

# $1 the month's first day (date), $2 its end, $3 its start (timestamptz). A late event an
# invoice carries was loaded after the previous month was finalised, so after $3.
_BASES = """
with fin as (
  select s.customer_bk as customer, s.period_start, min(s.load_dts) as finalised_at
  from raw_vault.sat_invoice_snapshot s
  where s.status = 'finalised'
  group by 1, 2
), ce as (
  select distinct on (d.cost_event_hk) d.cost_event_hk, d.load_dts, d.event_ts, d.provider_cost,
         d.markup_amount, d.baseline_cost
  from raw_vault.sat_cost_event_details d
  where d.event_ts < $2 and (d.event_ts >= $3 or d.load_dts >= $3)
  order by d.cost_event_hk, d.load_dts
), events as (
  select c.customer_bk as customer, date_trunc('month', ce.event_ts at time zone 'UTC')::date as month, ce.*
  from ce
  join raw_vault.lnk_cost_event_api_request l on l.cost_event_hk = ce.cost_event_hk
  join raw_vault.lnk_api_request_context x on x.api_request_hk = l.api_request_hk
  join raw_vault.hub_customer c on c.customer_hk = x.customer_hk
), billed as (
  select e.*
  from events e
  where not exists (  -- not passed on: its month was not finalised before it was loaded ...
      select 1 from fin f
      where f.customer = e.customer and f.period_start = e.month and f.finalised_at < e.load_dts
    ) and e.month = $1
  union all
  select e.*
  from events e
  where e.month < $1
    and not exists (  -- ... or a late event this month was still open for, the earliest such
      select 1 from fin f
      where f.customer = e.customer and f.period_start = $1 and f.finalised_at < e.load_dts
    )
    and (
      select count(*) from fin f
      where f.customer = e.customer and f.period_start >= e.month and f.period_start < $1
        and f.finalised_at < e.load_dts
    ) = (extract(year from age($1, e.month)) * 12 + extract(month from age($1, e.month)))
), cfg as (
  select distinct on (c.customer_bk) c.customer_bk as customer, s.savings_share_pct, s.markup_plan
  from raw_vault.sat_customer_config s
  join raw_vault.hub_customer c on c.customer_hk = s.customer_hk
  order by c.customer_bk, (s.load_dts < $2) desc,
           case when s.load_dts < $2 then s.load_dts end desc nulls last, s.load_dts
)
select b.customer, cfg.savings_share_pct, cfg.markup_plan,
       coalesce(sum(coalesce(b.baseline_cost, b.provider_cost) - b.provider_cost), 0) as savings,
       coalesce(sum(b.provider_cost) filter (where b.markup_amount = 0), 0) as unmarked_provider_cost
from billed b
left join cfg on cfg.customer = b.customer
group by b.customer, cfg.savings_share_pct, cfg.markup_plan
order by b.customer
"""

_MART_LINES = """
select customer_slug as customer, line_type, quantity, amount_exact
from marts.invoice_lines
where billing_period_start = $1 and line_type in ('markup', 'savings_share')
order by customer_slug, line_no
"""


@dataclass(frozen=True, slots=True)
class PlanLine:
    """A pricing-plan line as (line_type, quantity, amount_exact), both at the marts' precision."""

    line_type: str
    quantity: Decimal
    amount_exact: Decimal

    def __str__(self) -> str:
        return f"{self.line_type} {self.amount_exact} on {self.quantity}"


def _exact(x: Decimal) -> Decimal:
    return Decimal(x).quantize(EXACT, ROUND_HALF_UP)


def expected_lines(
    savings_share_pct: Decimal | None, markup_plan: str | None, savings: Decimal, unmarked: Decimal
) -> list[PlanLine]:
    """The month's markup-band lines (in band order), then its savings-share line, if any."""
    lines = []
    if markup_plan:
        bands = plans.markup_plans().get(markup_plan, ())
        for charge in plans.graduated(bands, unmarked):
            lines.append(PlanLine("markup", _exact(charge.spend), _exact(charge.amount)))
    share = plans.savings_share(savings_share_pct, savings)
    if share > 0:
        lines.append(PlanLine("savings_share", _exact(savings), _exact(share)))
    return lines


async def plan_line_problems(conn: asyncpg.Connection | asyncpg.Pool, period: Period) -> dict[str, list[str]]:
    """Per customer, where the invoice mart's pricing-plan lines differ from the raw vault's."""
    expected = {
        r["customer"]: expected_lines(
            r["savings_share_pct"], r["markup_plan"], r["savings"], r["unmarked_provider_cost"]
        )
        for r in await conn.fetch(_BASES, period.start, period.end_ts, period.start_ts)
    }
    billed: dict[str, list[PlanLine]] = {}
    for r in await conn.fetch(_MART_LINES, period.start):
        billed.setdefault(r["customer"], []).append(
            PlanLine(r["line_type"], _exact(r["quantity"]), _exact(r["amount_exact"]))
        )
    # the mart lists bands before the savings share (line groups 1.5 and 3.5)
    problems: dict[str, list[str]] = {}
    for customer in sorted(expected.keys() | billed.keys()):
        want, got = expected.get(customer, []), billed.get(customer, [])
        if want != got:
            problems[customer] = [
                f"pricing-plan lines {', '.join(map(str, got)) or 'none'} ≠ vault "
                f"{', '.join(map(str, want)) or 'none'}"
            ]
    return problems
