"""The billing run end to end: a month of traffic through the real gateway (shifted clock),
dbt marts, reconciliation checks and finalisation into the raw vault — with real dbt, real
Dagster (in-process), real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from dagster import DagsterInstance
from typer.testing import CliRunner

from dagster_pipelines.runner import BillingRun, run_billing
from gateway.cli.demo_traffic import (
    DemoCustomer,
    ensure_customers,
    replay_month,
    scenario,
    shifted_gateway,
    wait_recorded,
)
from gateway.cli.main import app as cli_app
from warehouse.billing import Period, content_hash
from warehouse.billing.finalise import snapshot_header
from warehouse.embedded import RedisEndpoint

# Dagster reads the manifest in dbt_project/target, which the session parses into: one worker.
pytestmark = pytest.mark.xdist_group("dbt_target")

MARCH, APRIL = Period.of("2025-03"), Period.of("2025-04")
SNAPSHOTS = """
select h.invoice_bk, s.*
from raw_vault.sat_invoice_snapshot s join raw_vault.hub_invoice h using (invoice_hk)
where s.period_start = $1 order by h.invoice_bk
"""
VAULT_COUNTS = """
select (select count(*) from raw_vault.hub_invoice), (select count(*) from raw_vault.lnk_invoice_customer),
       (select count(*) from raw_vault.sat_invoice_snapshot)
"""


def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), ROUND_HALF_UP)


def check_results(run: BillingRun) -> dict:
    return {
        e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data
        for e in run.events
        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    }


async def billing(month: str, instance: DagsterInstance) -> BillingRun:
    return await asyncio.to_thread(run_billing, month, instance=instance)


@pytest.mark.timeout(900)  # a month of traffic and three billing runs: minutes on two cores
async def test_billing_run_finalises_a_month_once_and_late_usage_becomes_a_correction(
    billing_env: Path,
    vault_dsn: str,
    vault_pool: asyncpg.Pool,
    redis_server: RedisEndpoint,
    redis_client: aioredis.Redis,  # a flushed Redis: no budget or rate counters of other tests
    dagster_instance: DagsterInstance,
    tmp_path: Path,
) -> None:
    # Initech's budget runs out within this smaller month (the demo's full month spends more).
    customers = [
        replace(c, config=replace(c.config, budget_monthly=Decimal("0.02"))) if c.slug == "initech" else c
        for c in scenario()
    ]
    traffic = await replay_month(
        MARCH,
        database_url=vault_dsn,
        redis_url=redis_server.url,
        work_dir=tmp_path / "traffic",
        pool=vault_pool,
        scale=0.25,
        customers=customers,
    )
    assert traffic.statuses[200] > 40 and traffic.failovers > 0 and traffic.budget_refusals["initech"] > 0

    # -- first run: marts built, checks pass, every invoice finalised into the vault ------------------
    first = await billing("2025-03", dagster_instance)
    assert first.success, first.failures()
    meta = first.materializations()["billing/finalised_invoices"]
    assert meta["finalised_now"] == 3 and meta["no_op"] is False
    checks = check_results(first)
    for name in (
        "invoices_reconcile_with_cost_events",
        "no_unpriced_usage",
        "chargeback_sums",
        "loader_freshness",
    ):
        assert checks[name].passed, (name, checks[name].description)
    assert sum(1 for c in checks.values() if c.passed) == len(checks)  # dbt's tests too

    drafts = {
        r["invoice_id"]: r
        for r in await vault_pool.fetch(
            "select * from marts.invoices where billing_period_start = $1", MARCH.start
        )
    }
    snapshots = {r["invoice_bk"]: r for r in await vault_pool.fetch(SNAPSHOTS, MARCH.start)}
    assert set(snapshots) == set(drafts) == {"acme/2025-03", "globex/2025-03", "initech/2025-03"}
    numbers = sorted(s["invoice_number"] for s in snapshots.values())
    assert numbers == ["INV-000001", "INV-000002", "INV-000003"]  # gap-free, per issuer
    cost_events = {
        r["customer_bk"]: r["cost"]
        for r in await vault_pool.fetch(
            "select c.customer_bk, sum(d.customer_cost) as cost from raw_vault.sat_cost_event_details d "
            "join raw_vault.lnk_cost_event_api_request l using (cost_event_hk) "
            "join raw_vault.lnk_api_request_context x using (api_request_hk) "
            "join raw_vault.hub_customer c on c.customer_hk = x.customer_hk "
            "where d.event_ts >= $1 and d.event_ts < $2 group by 1",
            MARCH.start_ts,
            MARCH.end_ts,
        )
    }
    for invoice_id, snap in snapshots.items():
        draft = drafts[invoice_id]
        assert snap["record_source"] == "billing-run" and snap["status"] == "finalised"
        assert (snap["subtotal"], snap["tax"], snap["total"]) == (
            draft["subtotal"],
            draft["tax"],
            draft["total"],
        )
        lines = json.loads(snap["lines"])
        assert sum(Decimal(x["amount"]) for x in lines) == snap["subtotal"]
        usage = sum(Decimal(x["amount_exact"]) for x in lines if x["line_type"] == "usage")
        assert usage == cost_events[snap["customer_bk"]]  # the invoice is its cost events, exactly
        assert abs(sum(Decimal(x["amount"]) for x in lines if x["line_type"] == "usage") - cents(usage)) <= (
            Decimal("0.005") * len(lines)
        )
        assert snap["content_hash"] == content_hash(snapshot_header(snap, invoice_id), lines)
    acme = json.loads(snapshots["acme/2025-03"]["lines"])
    assert {x["description"] for x in acme if x["line_type"] == "subscription"} >= {
        "Real-time Analytics Dashboard",
        "Smart Routing & Optimization",
    }
    assert snapshots["acme/2025-03"]["tax"] == cents(snapshots["acme/2025-03"]["subtotal"] * Decimal("0.19"))
    docs = billing_env / "invoices" / "2025-03"
    assert sorted(p.name for p in docs.iterdir()) == [
        f"{c}-2025-03.{ext}" for c in ("acme", "globex", "initech") for ext in ("csv", "pdf")
    ]
    assert (docs / "acme-2025-03.pdf").read_bytes().startswith(b"%PDF")

    # -- the CLI prints a finalised invoice from the vault ----------------------------------------------
    shown = await asyncio.to_thread(CliRunner().invoke, cli_app, ["invoices", "show", "acme", "2025-03"])
    assert shown.exit_code == 0, shown.output
    assert snapshots["acme/2025-03"]["invoice_number"] in shown.output
    assert f"{snapshots['acme/2025-03']['total']:,.2f}" in shown.output

    # -- a second run of the same month changes nothing and says so ---------------------------------
    before = await vault_pool.fetchrow(VAULT_COUNTS)
    again = await billing("2025-03", dagster_instance)
    assert again.success, again.failures()
    meta = again.materializations()["billing/finalised_invoices"]
    assert meta["no_op"] is True and meta["finalised_now"] == 0 and "already finalised" in meta["result"]
    assert await vault_pool.fetchrow(VAULT_COUNTS) == before

    # -- a late March event, and unpriced April usage ---------------------------------------------------
    keys = await ensure_customers(vault_pool, [c for c in customers if c.slug == "acme"])
    # (unknown, unpriced models are refused unless the operator allows them: here some must block)
    async with shifted_gateway(vault_dsn, redis_server.url, tmp_path / "late", MARCH, unpriced=True) as gw:
        late = await gw.send(
            keys["acme"], MARCH.end_ts - timedelta(hours=2), "gpt-4o-mini", team="search", user="x"
        )
        assert late.status_code == 200
        odd = await gw.send(
            keys["acme"], APRIL.start_ts + timedelta(days=3), "gpt-acme-private", team="search", user="x"
        )
        assert odd.status_code == 200
        await wait_recorded(vault_pool, ["acme"], traffic.by_customer["acme"] + 2)
    late_cost = Decimal(late.json()["cost"]["customer_cost"])

    april = await billing("2025-04", dagster_instance)
    assert not april.success  # unpriced usage blocks finalisation, with a message saying why
    checks = check_results(april)
    assert checks["no_unpriced_usage"].passed is False
    assert "acme: openai/gpt-acme-private × 1" in checks["no_unpriced_usage"].description
    assert "billing/finalised_invoices" not in april.materializations()
    assert not await vault_pool.fetchval(
        "select count(*) from raw_vault.sat_invoice_snapshot where period_start = $1", APRIL.start
    )

    correction = await vault_pool.fetchrow(
        "select * from marts.invoice_lines where invoice_id = 'acme/2025-04' and line_type = 'correction'"
    )
    assert correction["charge_class"] == "correction" and correction["correction_of_period"] == MARCH.start
    assert correction["amount_exact"] == late_cost
    # March never changes: the mart still reproduces the finalised snapshot exactly.
    march = await vault_pool.fetchrow("select * from marts.invoices where invoice_id = 'acme/2025-03'")
    assert (march["status"], march["total"]) == ("finalised", snapshots["acme/2025-03"]["total"])
    assert await vault_pool.fetchrow(VAULT_COUNTS) == before


def test_demo_scenario_is_varied() -> None:
    customers: list[DemoCustomer] = scenario()
    assert len(customers) >= 3
    assert len({m for c in customers for m in c.models}) >= 5
    assert any(c.config.budget_monthly for c in customers)
    assert any(c.config.subscribed_services for c in customers)


@pytest.mark.parametrize("month", ["2025-03"])
def test_period_boundaries(month: str) -> None:
    p = Period.of(month)
    assert (p.start.isoformat(), p.end.isoformat(), p.key) == ("2025-03-01", "2025-04-01", "2025-03")
    assert p.closes_at(3600).isoformat() == "2025-04-01T01:00:00+00:00"
