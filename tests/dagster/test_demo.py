"""``onevault demo`` end to end on a scaled-down month (real gateway, simulator, PostgreSQL,
Redis, dbt and Dagster in-process): the month is billed with a credit line on the postpaid
customer with a grant, then the four money scenarios play and the "what it found" section names
each one — the prepaid 402, the team budget's 402, the planted spike, the bill that does not
reconcile — and the vault and marts agree with what was printed."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from gateway.cli.demo_scenarios import BUDGET_CUSTOMER, PREPAID, scenario_day
from gateway.cli.main import app as cli_app
from warehouse.billing import Period

# The demo's billing run reads the manifest in dbt_project/target: one worker with the others.
pytestmark = pytest.mark.xdist_group("dbt_target")

MONTH = Period.of("2025-03")
DAY = date(2025, 4, 1)  # the first weekday of April 2025 (a Tuesday)


def test_the_scenario_day_is_the_next_months_first_weekday() -> None:
    assert scenario_day(MONTH) == DAY
    assert scenario_day(Period.of("2026-10")) == date(2026, 11, 2)  # 1 November 2026 is a Sunday


@pytest.mark.timeout(900)  # a (quarter) month of traffic, a billing run and a dbt run: minutes
async def test_demo_prints_what_each_money_scenario_found(
    billing_env: Path,
    vault_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,  # a flushed Redis: no wallet or budget counters of other tests
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(billing_env / "dagster"))  # the demo sets it; undone after
    # Servers given by URL: the demo's Dagster instance keeps its runs in the test's PostgreSQL.
    args = ["demo", "--month", MONTH.key, "--scale", "0.25"]
    done = await asyncio.to_thread(CliRunner().invoke, cli_app, args)
    out = done.output
    assert done.exit_code == 0, out[-6000:]

    # The invoice: Globex's welcome credit is a credit line.
    assert re.search(r"credit line: Welcome credit \(cg_\w+\)\s+-\d+\.\d\d", out), out
    # Acme's volume plan: a markup band line; Globex's savings share on its legal team's routing.
    assert re.search(r"markup band: Markup: first [\d,.]+ USD at 20", out), out
    assert re.search(r"savings share: Savings share: 20 % of savings [\d,.]+ USD\s+\d+\.\d\d", out), out
    found = out.split("What it found", 1)[1]
    # Prepaid: answered, then refused for credit with the balance.
    assert re.search(r"\d+ requests answered, then 402 credit_exhausted, balance \d+\.\d+:", found), found
    # The team budget: refused naming the budget.
    assert re.search(
        r"then 402 budget_exceeded:\s+The monthly budget of \S+ USD for tag:team=search", found
    ), found
    assert "removed after the demo" in found
    # The planted spike: the 10:00 hour of the scenario day, against the weeks before.
    assert re.search(
        rf"{DAY} 10:00Z spike anthropic/claude-3-5-sonnet-latest key \S+: requests 30 vs median [12]\b", found
    ), found
    # Reconciliation: a call OneVault never saw, and a price it did not know.
    assert re.search(rf"{DAY} openai/gpt-4o: .* over \(usage\)", found), found
    assert re.search(rf"{DAY} anthropic/claude-3-5-haiku: .* over \(price\)", found), found
    assert "unexpected" not in found

    flagged = await vault_pool.fetch(
        "select customer_slug, hour_start, anomaly from marts.spend_anomalies where anomaly is not null"
    )
    assert [(r["customer_slug"], r["hour_start"].hour, r["anomaly"]) for r in flagged] == [
        ("globex", 10, "spike")
    ]
    recon = {
        (r["provider"], r["model"]): r["status"]
        for r in await vault_pool.fetch(
            "select provider, model, status from marts.provider_reconciliation where usage_date = $1", DAY
        )
    }
    assert recon[("openai", "gpt-4o")] == "over" and recon[("anthropic", "claude-3-5-haiku")] == "over"
    assert recon[("anthropic", "claude-3-5-sonnet")] == "matched"
    # The scenario budget is gone again (a history row), the prepaid customer's wallet is spent.
    shown = await asyncio.to_thread(CliRunner().invoke, cli_app, ["budgets", "list", BUDGET_CUSTOMER])
    assert shown.exit_code == 0 and "team=search" not in shown.output, shown.output
    credits = await asyncio.to_thread(CliRunner().invoke, cli_app, ["credits", "show", PREPAID.slug])
    assert credits.exit_code == 0 and "prepaid" in credits.output, credits.output
