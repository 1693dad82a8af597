"""The late-event rule (cross-team contract): once the billing run has finalised a month, a cost
event for that month loaded afterwards never changes it; it is a correction line on the
earliest later month that was not finalised when the event arrived. Two real dbt builds: a
draft, then — after finalised snapshots and late events — an incremental rebuild."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.events import RequestEvent
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
ON_TIME = list(synthetic_events(60, seed=4, customer_names=["acme"], start=OCTOBER, prefix="on-time"))


def late(name: str, day: int) -> RequestEvent:
    """A fresh October request (its own ids) that reaches the vault only now."""
    event = next(synthetic_events(1, seed=day, customer_names=["acme"], prefix=name))
    ts = OCTOBER + timedelta(days=day, hours=3)
    assert event.cost is not None
    cost = event.cost.model_copy(update={"event_ts": ts})
    attempts = [a.model_copy(update={"started_ts": ts}) for a in event.attempts]
    return event.model_copy(update={"request_ts": ts, "completed_ts": ts, "cost": cost, "attempts": attempts})


async def finalise(pool: asyncpg.Pool, month: date, number: str, lines: list[dict]) -> None:
    """A finalised snapshot as the Dagster billing run writes it (record_source billing-run)."""
    invoice_id = f"acme/{month:%Y-%m}"
    subtotal = sum((Decimal(str(line["amount"])) for line in lines), Decimal("0.00"))
    batch = VaultBatch()
    invoice = batch.hub(t.HUB_INVOICE, invoice_id, record_source="billing-run")
    customer = batch.hub(t.HUB_CUSTOMER, "acme", record_source="billing-run")
    batch.link(t.LNK_INVOICE_CUSTOMER, (invoice, customer), (invoice_id, "acme"), record_source="billing-run")
    end = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    batch.sat(
        t.SAT_INVOICE_SNAPSHOT,
        invoice,
        (
            number,
            "acme",
            month,
            end,
            "finalised",
            "USD",
            subtotal,
            Decimal("0.00"),
            subtotal,
            json.dumps(lines, default=str),
            b"\x01" * 32,
            datetime.now(UTC),
            "OneVault",
        ),
        record_source="billing-run",
    )
    await VaultLoader(pool).load(batch)


async def lines_of(pool: asyncpg.Pool, invoice_id: str) -> list[dict]:
    rows = await pool.fetch(
        "select line_no, line_type, charge_class, description, amount_exact, amount, correction_of_period "
        "from marts.invoice_lines where invoice_id = $1 order by line_no",
        invoice_id,
    )
    return [dict(r) for r in rows]


@pytest.fixture(scope="module")
async def scenario(module_pool: asyncpg.Pool, module_dbt) -> dict:
    loader = VaultLoader(module_pool)
    await loader.load(batch_from_events(ON_TIME))
    module_dbt("build", "--exclude", "source:*")
    draft = await lines_of(module_pool, "acme/2026-10")
    draft_header = await module_pool.fetchrow(
        "select * from marts.invoices where invoice_id = 'acme/2026-10'"
    )

    # October is finalised; then A (October) arrives; then November is finalised; then B.
    await finalise(module_pool, date(2026, 10, 1), "INV-000001", draft)
    await asyncio.sleep(0.01)  # load_dts is the loading transaction's start: keep them apart
    a, b = late("late-a", 20), late("late-b", 21)
    await loader.load(batch_from_events([a]))
    await asyncio.sleep(0.01)
    await finalise(module_pool, date(2026, 11, 1), "INV-000002", [])
    await asyncio.sleep(0.01)
    await loader.load(batch_from_events([b]))
    module_dbt("build", "--exclude", "source:*")  # incremental models pick up only the new rows
    return {"draft": draft, "draft_header": draft_header, "a": a, "b": b}


async def test_a_finalised_month_is_unchanged_by_late_events(
    scenario: dict, module_pool: asyncpg.Pool
) -> None:
    header = await module_pool.fetchrow("select * from marts.invoices where invoice_id = 'acme/2026-10'")
    assert header["status"] == "finalised" and header["invoice_number"] == "INV-000001"
    assert header["finalised_at"] is not None
    assert await lines_of(module_pool, "acme/2026-10") == scenario["draft"]
    for column in ("subtotal", "tax", "total", "usage_customer_cost_exact", "line_count"):
        assert header[column] == scenario["draft_header"][column], column


async def test_a_late_event_is_a_correction_on_the_next_open_month(
    scenario: dict, module_pool: asyncpg.Pool
) -> None:
    # A arrived while November was open: November carries it (and still does once finalised).
    november = await lines_of(module_pool, "acme/2026-11")
    a = scenario["a"].cost
    assert [(r["line_type"], r["charge_class"], r["correction_of_period"]) for r in november] == [
        ("correction", "correction", date(2026, 10, 1))
    ]
    assert november[0]["amount_exact"] == a.customer_cost
    assert november[0]["amount"] == a.customer_cost.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert scenario["a"].cost.cost_event_id in november[0]["description"]
    status = await module_pool.fetchval("select status from marts.invoices where invoice_id = 'acme/2026-11'")
    assert status == "finalised"

    # B arrived after November was finalised too: the earliest open month is December.
    december = await lines_of(module_pool, "acme/2026-12")
    assert [(r["line_type"], r["correction_of_period"], r["amount_exact"]) for r in december] == [
        ("correction", date(2026, 10, 1), scenario["b"].cost.customer_cost)
    ]
    chargeback = await module_pool.fetch(
        "select charge_class, charge_period_start, billed_cost from marts.chargeback "
        "where x_invoice_id = 'acme/2026-12'"
    )
    assert {r["charge_class"] for r in chargeback} == {"Correction"}
    assert sum(r["billed_cost"] for r in chargeback) == december[0]["amount"]


async def test_late_events_still_count_in_their_own_day_for_spend(
    scenario: dict, module_pool: asyncpg.Pool
) -> None:
    """Spend analytics are not invoices: the incremental rebuild adds late rows to their day."""
    for event in (scenario["a"], scenario["b"]):
        spent = await module_pool.fetchval(
            "select sum(customer_cost) from marts.spend_daily "
            "where usage_date = $1 and customer_slug = 'acme'",
            event.request_ts.date(),
        )
        expected = sum(
            (
                e.cost.customer_cost
                for e in [*ON_TIME, event]
                if e.cost and e.request_ts.date() == event.request_ts.date()
            ),
            Decimal(0),
        )
        assert spent == expected
