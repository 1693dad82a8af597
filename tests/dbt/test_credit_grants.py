"""Credit grants on a postpaid invoice, built by real dbt: one credit line per grant used, by
priority then expiry, never more than the invoice's eligible usage; expired, voided and
out-of-scope grants are not applied; the mart ``credit_balances`` matches the live ledger
(``gateway.admin.credits.balances``, the prepaid wallet's source) and ``GET /v1/billing``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from gateway.admin.credits import balances, grant_credit, void_grant
from gateway.admin.customers import CustomerConfig, create_customer
from gateway.api.billing import _credits
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

MONTH = datetime(2026, 10, 1, tzinfo=UTC)
EVENTS = list(synthetic_events(120, seed=5, customer_names=["credco"], start=MONTH, span=timedelta(days=20)))
USAGE = sum((e.cost.customer_cost for e in EVENTS if e.cost is not None), Decimal(0))
CENT = Decimal("0.01")


async def expired_grant(pool: asyncpg.Pool, customer: str) -> None:
    """A grant that expired before the month (the admin API refuses to make one; history has them)."""
    batch = VaultBatch()
    customer_hk = batch.hub(t.HUB_CUSTOMER, customer, record_source="test")
    hk = batch.hub(t.HUB_CREDIT_GRANT, "cg_expired0001", record_source="test")
    batch.link(
        t.LNK_CREDIT_GRANT_CUSTOMER, (hk, customer_hk), ("cg_expired0001", customer), record_source="test"
    )
    values = ("t", "active", Decimal("50.00"), "USD", 0, None, MONTH - timedelta(days=1), None, None, None,
              "Old credit", None)  # fmt: skip
    batch.sat(t.SAT_CREDIT_GRANT_DETAILS, hk, values, record_source="test")
    await VaultLoader(pool).load(batch)


@pytest.fixture(scope="module")
async def grants(module_pool: asyncpg.Pool, module_dbt) -> dict[str, dict]:
    await create_customer(module_pool, "credco", CustomerConfig(display_name="Credco"), changed_by="t")
    await VaultLoader(module_pool).load(batch_from_events(EVENTS))
    third = (USAGE * Decimal("0.3")).quantize(CENT)
    made = {
        # Applied in this order: priority 10 (the one that expires first, then the one that
        # never does), then priority 20, which pays only what is left.
        "late_prio": await grant_credit(module_pool, "credco", USAGE.quantize(CENT) + 5, changed_by="t",
                                        priority=20, description="Goodwill"),
        "never": await grant_credit(module_pool, "credco", third, changed_by="t", priority=10,
                                    description="Welcome"),
        "expiring": await grant_credit(module_pool, "credco", third, changed_by="t", priority=10,
                                       expires_at=datetime(2099, 1, 1, tzinfo=UTC), description="Promo"),
        "voided": await grant_credit(module_pool, "credco", Decimal("100.00"), changed_by="t", priority=0),
        "other_scope": await grant_credit(module_pool, "credco", Decimal("100.00"), changed_by="t",
                                          priority=0, scope="provider:nobody"),
        "other_currency": await grant_credit(module_pool, "credco", Decimal("100.00"), changed_by="t",
                                             priority=0, currency="EUR"),
    }  # fmt: skip
    await void_grant(module_pool, made["voided"]["grant_id"], changed_by="t", reason="test")
    await expired_grant(module_pool, "credco")
    module_dbt("build", "--select", "+invoices", "+credit_balances", "--indirect-selection", "cautious")
    return made


async def test_a_credit_line_per_grant_used_by_priority_then_expiry(
    grants: dict[str, dict], module_pool: asyncpg.Pool
) -> None:
    lines = await module_pool.fetch(
        "select line_no, line_type, description, amount_exact, amount from marts.invoice_lines "
        "where invoice_id = 'credco/2026-10' order by line_no"
    )
    credits = [line for line in lines if line["line_type"] == "credit"]
    ids = [grants[k]["grant_id"] for k in ("expiring", "never", "late_prio")]
    assert [c["description"] for c in credits] == [
        f"Promo ({ids[0]})",
        f"Welcome ({ids[1]})",
        f"Goodwill ({ids[2]})",
    ]
    assert credits[0]["line_no"] > max(line["line_no"] for line in lines if line["line_type"] == "usage")
    eligible = sum(
        line["amount_exact"] for line in lines if line["line_type"] in ("usage", "cache", "correction")
    )
    assert abs(eligible - USAGE) < Decimal("1e-9")
    third = grants["never"]["amount"]
    assert [-c["amount_exact"] for c in credits[:2]] == [third, third]
    assert -credits[2]["amount_exact"] == eligible - 2 * third  # the rest, not its whole amount
    assert -sum(c["amount_exact"] for c in credits) == eligible  # never more than the invoice's usage
    total = await module_pool.fetchval("select total from marts.invoices where invoice_id = 'credco/2026-10'")
    assert Decimal(0) <= total <= CENT


async def test_the_mart_matches_the_live_ledger(grants: dict[str, dict], module_pool: asyncpg.Pool) -> None:
    mart = {r["grant_id"]: r for r in await module_pool.fetch("select * from marts.credit_balances")}
    live = {g.grant_id: g for g in await balances(module_pool, "credco")}
    assert set(mart) == set(live) and len(mart) == 7
    for grant_id, g in live.items():
        assert mart[grant_id]["used"] == g.used, grant_id
        assert mart[grant_id]["remaining"] == g.remaining, grant_id
        assert mart[grant_id]["status"] == g.status, grant_id
    by_key = {k: mart[v["grant_id"]] for k, v in grants.items()}
    assert by_key["voided"]["status"] == "voided" and by_key["voided"]["used"] == 0
    assert by_key["other_scope"]["used"] == 0 and by_key["other_scope"]["remaining"] == Decimal("100")
    assert by_key["other_currency"]["used"] == 0
    assert mart["cg_expired0001"]["status"] == "expired" and mart["cg_expired0001"]["used"] == 0
    assert by_key["late_prio"]["remaining"] == by_key["late_prio"]["amount"] - by_key["late_prio"]["used"] > 0
    assert by_key["never"]["status"] == "exhausted"

    billing = await _credits(module_pool, "credco")
    assert billing is not None
    assert billing["balance"]["USD"] == format(
        sum(g.remaining for g in live.values() if g.currency == "USD"), "f"
    )
    shown = {g["grant_id"]: g for g in billing["grants"]}
    assert shown[grants["never"]["grant_id"]]["used_by_month"] == {
        "2026-10": format(by_key["never"]["used"], "f")
    }
    assert all("E" not in g["used"] and "E" not in g["remaining"] for g in shown.values())
    assert await _credits(module_pool, "someone-else") == {"balance": {}, "grants": []}  # tenant-filtered
