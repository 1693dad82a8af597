"""Pricing plans on invoices, built by real dbt (docs/billing/plans.md): a savings share billed on
the month's attributed savings (never negative), a graduated markup plan across two bands with
exact amounts, a service the tier includes shown at 0.00 — and the raw-vault recomputation
(warehouse/billing/plan_lines.py) agrees, and notices when the marts are stale."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import asyncpg
import pytest

from gateway.admin.customers import CustomerConfig, create_customer
from warehouse.billing import Period, ReconciliationError, finalise_month
from warehouse.billing.finalise import LINE_COLUMNS, _json_value
from warehouse.billing.reconcile import reconcile
from warehouse.events import RequestEvent
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.plans import graduated, markup_plans
from warehouse.synthetic import synthetic_events

MONTH = datetime(2026, 10, 1, tzinfo=UTC)
OCTOBER = Period.of("2026-10")
EXACT, CENT = Decimal("1e-12"), Decimal("0.01")
BAND_COST = Decimal("100.123456789012")  # provider cost of each of the plan customer's requests


def recost(e: RequestEvent, **cost: Decimal | None) -> RequestEvent:
    return e.model_copy(update={"cost": e.cost.model_copy(update=cost)})


def events_of(customer: str, n: int, seed: int) -> list[RequestEvent]:
    made = synthetic_events(n, seed=seed, customer_names=[customer], start=MONTH, span=timedelta(days=20))
    return [e for e in made if e.cost is not None and e.cost.optimisation == "none"]


def saver_events() -> list[RequestEvent]:
    # Routed to a cheaper model than asked for: the baseline (the model asked for) cost 1.5 times more.
    return [
        recost(e, baseline_cost=e.cost.provider_cost * Decimal("1.5"), optimisation="routing") if i % 2 else e
        for i, e in enumerate(events_of("saver", 40, seed=31))
    ]


def loser_events() -> list[RequestEvent]:
    # Failed over to a dearer model: actual cost above the baseline, so the month saved nothing.
    return [recost(e, baseline_cost=e.cost.provider_cost / 2) for e in events_of("loser", 20, seed=32)]


def bander_events() -> list[RequestEvent]:
    # On the plan: no flat markup per request. The first one was recorded before the customer
    # moved onto the plan (a flat 20 %): the plan's base leaves it out.
    made = events_of("bander", 20, seed=33)[:13]
    flat = recost(
        made[0],
        provider_cost=Decimal(50),
        markup_pct=Decimal(20),
        markup_amount=Decimal(10),
        customer_cost=Decimal(60),
        baseline_cost=None,
    )
    on_plan = [
        recost(
            e,
            provider_cost=BAND_COST,
            markup_pct=Decimal(0),
            markup_amount=Decimal(0),
            customer_cost=BAND_COST,
            baseline_cost=None,
        )
        for e in made[1:]
    ]
    return [flat, *on_plan]


SAVER, LOSER, BANDER = saver_events(), loser_events(), bander_events()
INCLUDER = events_of("includer", 10, seed=34)
# One more routed October request, loaded after the marts were first built.
EXTRA = [
    recost(events_of("saver", 3, seed=35)[0], baseline_cost=Decimal("1.000000000000"), optimisation="routing")
]


def savings(events: list[RequestEvent]) -> Decimal:
    return sum(
        ((e.cost.baseline_cost or e.cost.provider_cost) - e.cost.provider_cost for e in events), Decimal(0)
    )


@pytest.fixture(scope="module")
async def built(module_pool: asyncpg.Pool, module_dbt) -> None:
    share = Decimal("20")
    for slug, config in (
        ("saver", CustomerConfig(display_name="Saver", savings_share_pct=share)),
        ("loser", CustomerConfig(display_name="Loser", savings_share_pct=share)),
        ("bander", CustomerConfig(display_name="Bander", markup_plan="volume")),
        (
            "includer",
            CustomerConfig(
                display_name="Includer", tier="premium", subscribed_services=("analytics", "priority_support")
            ),
        ),
    ):
        await create_customer(module_pool, slug, config, changed_by="test")
    await VaultLoader(module_pool).load(batch_from_events([*SAVER, *LOSER, *BANDER, *INCLUDER]))
    module_dbt(
        "build", "--select", "+invoices", "+chargeback", "+savings", "--indirect-selection", "cautious"
    )


async def lines_of(pool: asyncpg.Pool, invoice_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "select * from marts.invoice_lines where invoice_id = $1 order by line_no", invoice_id
    )


async def test_a_savings_share_line_bills_the_share_of_the_month_savings(
    built: None, module_pool: asyncpg.Pool
) -> None:
    base = savings(SAVER)
    assert base > 0
    lines = await lines_of(module_pool, "saver/2026-10")
    share = [line for line in lines if line["line_type"] == "savings_share"]
    assert len(share) == 1
    line = share[0]
    assert line["quantity"] == base.quantize(EXACT) and line["unit"] == "USD"
    assert line["amount_exact"] == (base * Decimal("0.20")).quantize(EXACT, ROUND_HALF_UP)
    assert line["amount"] == (base * Decimal("0.20")).quantize(CENT, ROUND_HALF_UP)
    assert (
        line["description"] == f"Savings share: 20 % of savings {base.quantize(CENT, ROUND_HALF_UP):,.2f} USD"
    )
    assert line["line_no"] > max(x["line_no"] for x in lines if x["line_type"] == "usage")
    # the base is the savings mart's attributed savings for the month
    mart = await module_pool.fetchval(
        "select sum(savings) from marts.savings where customer_slug = 'saver' "
        "and usage_date >= '2026-10-01' and usage_date < '2026-11-01'"
    )
    assert mart == line["quantity"]
    total = await module_pool.fetchrow(
        "select subtotal from marts.invoices where invoice_id = 'saver/2026-10'"
    )
    assert total["subtotal"] == sum(x["amount"] for x in lines)


async def test_no_savings_share_when_the_month_saved_nothing(built: None, module_pool: asyncpg.Pool) -> None:
    assert savings(LOSER) < 0
    lines = await lines_of(module_pool, "loser/2026-10")
    assert lines and not [x for x in lines if x["line_type"] == "savings_share"]
    assert all(x["amount_exact"] >= 0 for x in lines)


async def test_a_markup_plan_is_graduated_over_the_month_spend(
    built: None, module_pool: asyncpg.Pool
) -> None:
    base = BAND_COST * 12  # the flat-markup request is not part of it
    assert Decimal(1000) < base < Decimal(5000)
    lines = await lines_of(module_pool, "bander/2026-10")
    bands = [x for x in lines if x["line_type"] == "markup"]
    assert [(x["description"], x["quantity"], x["amount_exact"]) for x in bands] == [
        ("Markup: first 1,000.00 USD at 20 %", Decimal("1000"), Decimal("200")),
        (
            "Markup: 1,000.00–5,000.00 USD at 15 %",
            base - 1000,
            ((base - 1000) * Decimal("0.15")).quantize(EXACT),
        ),
    ]
    assert [x["amount"] for x in bands] == [Decimal("200.00"), Decimal("30.22")]
    expected = graduated(markup_plans()["volume"], base)
    assert [c.amount.quantize(EXACT, ROUND_HALF_UP) for c in expected] == [x["amount_exact"] for x in bands]
    usage = [x for x in lines if x["line_type"] == "usage"]
    assert sum(x["markup"] for x in usage) == Decimal(10)  # only the request recorded before the plan
    assert sum(x["amount_exact"] for x in usage) == base + 60
    assert bands[0]["line_no"] == max(x["line_no"] for x in usage) + 1  # right after usage
    # chargeback splits the band lines over the invoice's teams, to the cent of the invoice
    allocated = await module_pool.fetchval(
        "select sum(billed_cost) from marts.chargeback where x_invoice_id = 'bander/2026-10' "
        "and x_line_type = 'markup'"
    )
    assert allocated == sum(x["amount"] for x in bands)


async def test_a_service_the_tier_includes_is_not_charged(built: None, module_pool: asyncpg.Pool) -> None:
    lines = await lines_of(module_pool, "includer/2026-10")
    subs = {x["description"]: (x["amount"], x["unit"]) for x in lines if x["line_type"] == "subscription"}
    assert subs == {
        "Real-time Analytics Dashboard": (Decimal("50.00"), "month"),
        "Priority Support (included in the premium tier)": (Decimal("0.00"), "included"),
    }


async def test_the_raw_vault_recomputation_agrees_and_notices_stale_marts(
    built: None, module_pool: asyncpg.Pool
) -> None:
    found = {r.customer: r for r in await reconcile(module_pool, OCTOBER)}
    assert {"saver", "loser", "bander", "includer"} <= found.keys()
    assert all(r.ok for r in found.values()), [r.problems for r in found.values() if not r.ok]
    # One more routed request for the saver, loaded after the marts were built: the vault's
    # savings moved, the mart's savings share did not.
    await VaultLoader(module_pool).load(batch_from_events(EXTRA))
    stale = {r.customer: r for r in await reconcile(module_pool, OCTOBER)}
    assert any("pricing-plan lines" in p for p in stale["saver"].problems), stale["saver"].problems
    assert stale["bander"].ok


async def test_the_billing_run_finalises_the_plan_lines_and_bills_late_savings_next_month(
    built: None, module_pool: asyncpg.Pool, module_dbt
) -> None:
    # The marts are stale from the test above: finalisation refuses rather than freeze them.
    with pytest.raises(ReconciliationError, match="pricing-plan lines"):
        await finalise_month(module_pool, OCTOBER, issuer="OneVault", grace_s=3600)
    module_dbt("run", "--select", "+invoices", "+chargeback")
    done = await finalise_month(module_pool, OCTOBER, issuer="OneVault", grace_s=3600)
    assert {"saver/2026-10", "bander/2026-10"} <= {i.invoice_id for i in done.written}
    snapshot = json.loads(
        await module_pool.fetchval(
            "select s.lines from raw_vault.sat_invoice_snapshot s join raw_vault.hub_invoice h "
            "using (invoice_hk) where h.invoice_bk = 'saver/2026-10'"
        )
    )
    share = [x for x in snapshot if x["line_type"] == "savings_share"]
    assert len(share) == 1 and Decimal(share[0]["quantity"]) == savings([*SAVER, *EXTRA]).quantize(EXACT)

    # A routed October request loaded after October was finalised: a correction on November,
    # whose savings share is computed on it; October never changes.
    late = recost(
        events_of("saver", 3, seed=36)[0], baseline_cost=Decimal("2.000000000000"), optimisation="routing"
    )
    await VaultLoader(module_pool).load(batch_from_events([late]))
    module_dbt("run", "--select", "+invoices", "+chargeback")
    november = await lines_of(module_pool, "saver/2026-11")
    assert [x["line_type"] for x in november] == ["savings_share", "correction"]
    assert november[0]["quantity"] == savings([late]).quantize(EXACT)
    october = await lines_of(module_pool, "saver/2026-10")
    assert [_row(x) for x in october] == snapshot
    assert all(r.ok for r in await reconcile(module_pool, Period.of("2026-11")))
    assert all(r.ok for r in await reconcile(module_pool, OCTOBER))


def _row(line: asyncpg.Record) -> dict:
    """An invoice_lines row as the snapshot stores it."""
    return {c: _json_value(line[c]) for c in LINE_COLUMNS}
