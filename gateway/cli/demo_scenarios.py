"""The demo's money scenarios, played after the billed month through the same shifted-clock
gateway as its traffic (``demo_traffic``), on one scenario day: the first weekday of the next
month, so the steady batch job of the previous weeks is the anomaly's baseline.

- **prepaid**: a prepaid customer with a small grant spends until 402 ``credit_exhausted`` (on
  the real clock, not the scenario day: the wallet's seed is valid for minutes from now);
- **team budget**: a monthly budget on Acme's ``team=search`` tag refuses with 402 naming it;
- **anomaly**: Globex's 10:00 batch job runs ten times over, then ``marts.spend_anomalies``;
- **reconciliation**: the simulated providers bill a price OneVault does not know and a call it
  never saw; their reports are imported and ``marts.provider_reconciliation`` built.

Only the demo's own customers are touched, and the scenario budget is removed afterwards (a
history row), so the next demo month is not refused by it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from gateway.admin.budgets import remove_budget, set_budget
from gateway.admin.credits import balances, grant_credit, wallet
from gateway.admin.customers import CustomerConfig
from gateway.cli.demo_traffic import (
    OPERATOR,
    WORDS,
    DemoCustomer,
    ShiftedGateway,
    TrafficSummary,
    ensure_customers,
    recorded,
    scenario,
    shifted_gateway,
    steady_requests,
    wait_recorded,
)
from gateway.enforcement.credits import forget
from warehouse.anomalies import Anomaly, list_anomalies
from warehouse.billing import Period
from warehouse.dbt import dbt_args, dbt_env
from warehouse.reconciliation import ProviderSource, land, pull

PREPAID = DemoCustomer(
    "umbrella",
    "Umbrella Health",
    ("app",),
    ("claude-3-5-haiku-latest",),
    0,
    CustomerConfig(display_name="Umbrella Health", tier="basic", billing_mode="prepaid"),
)
PREPAID_GRANT = Decimal("0.01")  # granted at every demo run: some two dozen requests
BUDGET_CUSTOMER, BUDGET_TAG, BUDGET_LIMIT = "acme", "team=search", Decimal("0.004")
BUDGET_MODEL = "claude-3-5-haiku-latest"
SPIKE_CUSTOMER = "globex"  # its SteadyJob is the baseline
SPIKE_FACTOR, SPIKE_MIN = 10, 30  # at least the anomaly rule's 20-request minimum volume
# Reconciliation: Anthropic bills haiku 25 % dearer than OneVault's price, and someone calls
# gpt-4o on the same OpenAI key without the gateway.
PRICE_FACTOR = {"claude-3-5-haiku-latest": "1.25"}
RECON_CUSTOMER = "acme"
RECON_TRAFFIC = ("gpt-4o", "claude-3-5-haiku-latest") * 3
UNSEEN_MODEL = "gpt-4o"
SIM_ADMIN_KEY = "sim-admin"  # the simulator serves its bills to any admin key
DBT_SELECT = ("+spend_anomalies", "+provider_reconciliation")
MAX_TRIES = 200  # a scenario that is never refused stops here (and says so)


@dataclass(slots=True)
class Refused:
    """How a spend-until-refused scenario ended: answered requests, then the 402 (or none)."""

    answered: int = 0
    status: int | None = None
    error: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Findings:
    day: date
    prepaid: Refused
    prepaid_balance: Decimal
    budget: Refused
    spike_requests: int
    baseline_requests: int
    anomalies: list[Anomaly]
    reconciliation: list[asyncpg.Record]
    imports: list[str]


def scenario_day(period: Period) -> date:
    """The first weekday after the billed month: the same weekday of the weeks before carry
    the steady batch job, and nothing on it belongs to a month being billed."""
    day = period.next().start
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def at(day: date, hour: int, seconds: float = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) + timedelta(seconds=seconds)


async def _until_refused(
    gw: ShiftedGateway, key: str, when: Callable[[int], datetime], model: str, team: str, user: str
) -> Refused:
    """Send request ``i`` at ``when(i)`` until one is refused; anything but a 402 is an error."""
    out = Refused()
    for i in range(MAX_TRIES):
        r = await gw.send(key, when(i), model, team=team, user=user, max_tokens=256)
        if r.status_code == 402:
            out.status, out.error = r.status_code, r.json()["error"]
            return out
        r.raise_for_status()
        out.answered += 1
    return out


async def _unseen_call(gw: ShiftedGateway, when: datetime) -> None:
    """A call straight to the simulated OpenAI with the gateway's own provider key."""
    gw.clock.at = when
    async with httpx.AsyncClient(base_url=gw.sim.url, timeout=30) as raw:
        r = await raw.post(
            "/v1/chat/completions",
            headers={"authorization": "Bearer sim-openai"},
            json={"model": UNSEEN_MODEL, "messages": [{"role": "user", "content": " ".join(WORDS[:30])}]},
        )
        r.raise_for_status()


async def _import_bills(pool: asyncpg.Pool, sim_url: str, day: date) -> list[str]:
    """Pull the day's cost and usage reports from the simulated OpenAI and Anthropic into the vault."""
    done = []
    for source in (
        ProviderSource("openai", "openai", base_url=f"{sim_url}/v1", admin_key=SIM_ADMIN_KEY),
        ProviderSource("anthropic", "anthropic", base_url=sim_url, admin_key=SIM_ADMIN_KEY),
    ):
        reports = await asyncio.to_thread(pull, source, day)
        for d in await land(pool, source.provider, reports, days=[day], source=sim_url, imported_by=OPERATOR):
            done.append(
                f"{d.provider} {d.record_source}: {d.lines} line(s), {d.amount_total} {d.currency or ''}"
            )
    return done


def run_dbt(database_url: str, work: Path, *command: str) -> str:
    """dbt as ``onevault dbt`` runs it (same project, target under the home); raises on failure."""
    env = {**os.environ, **dbt_env(database_url), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    exe = str(Path(sys.executable).with_name("dbt"))
    done = subprocess.run([exe, *dbt_args(list(command), work)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(command)} failed:\n{done.stdout[-3000:]}")
    return done.stdout


async def play(
    period: Period,
    traffic: TrafficSummary,
    *,
    database_url: str,
    redis_url: str,
    work_dir: Path,
    pool: asyncpg.Pool,
    dbt_dir: Path,
    scale: float = 1.0,
) -> Findings:
    """Play the four scenarios on ``scenario_day(period)`` (the month's keys from ``traffic``),
    build the anomaly and reconciliation marts with dbt (target under ``dbt_dir``) and read
    back what was found."""
    day = scenario_day(period)
    customers = {c.slug: c for c in scenario()}
    keys = {**traffic.keys, **await ensure_customers(pool, [PREPAID])}
    # Grants and budgets first: the gateway reads budget definitions when it starts.
    await grant_credit(pool, PREPAID.slug, PREPAID_GRANT, changed_by=OPERATOR, description="Prepaid top-up")
    redis = aioredis.from_url(redis_url)
    try:
        await forget(redis, PREPAID.slug)  # the wallet re-seeds from the vault on its next request
    finally:
        await redis.aclose()
    budget = await set_budget(
        pool,
        BUDGET_CUSTOMER,
        scope="tag",
        value=BUDGET_TAG,
        period="month",
        limit=BUDGET_LIMIT,
        changed_by=OPERATOR,
    )
    job = customers[SPIKE_CUSTOMER].steady
    assert job is not None, "the spike customer has a steady job"
    baseline = steady_requests(job, scale)
    spike = max(SPIKE_MIN, SPIKE_FACTOR * baseline)
    slugs = [BUDGET_CUSTOMER, SPIKE_CUSTOMER]
    before = await recorded(pool, slugs)
    try:
        async with shifted_gateway(database_url, redis_url, work_dir, period) as gw:
            refused = await _until_refused(
                gw,
                keys[BUDGET_CUSTOMER],
                lambda i: at(day, 13, i * 240),
                BUDGET_MODEL,
                "search",
                "search-1@acme.example",
            )
            for i in range(spike):  # the batch job runs ten times over within its hour
                r = await gw.send(
                    keys[SPIKE_CUSTOMER],
                    at(day, job.hour, i * 3300 / spike),
                    job.model,
                    team=job.team,
                    user=f"{job.team}-batch@{SPIKE_CUSTOMER}.example",
                )
                r.raise_for_status()
            gw.sim.simulator.billing.configure(PRICE_FACTOR)  # calls answered from now on
            for i, model in enumerate(RECON_TRAFFIC):
                r = await gw.send(
                    keys[RECON_CUSTOMER],
                    at(day, 15, i * 60),
                    model,
                    team="support",
                    user="support-1@acme.example",
                )
                r.raise_for_status()
            await _unseen_call(gw, at(day, 15, 1800))
            await wait_recorded(pool, slugs, before + _sent(refused) + spike + len(RECON_TRAFFIC))
            imports = await _import_bills(pool, gw.sim.url, day)
            # Built before the prepaid traffic below, whose real-clock requests would move the
            # anomaly mart's data clock past the scenario day when the demo month is an old one.
            await asyncio.to_thread(run_dbt, database_url, dbt_dir, "run", "--select", *DBT_SELECT)
            found = await list_anomalies(pool, SPIKE_CUSTOMER, at(day, 0))
            recon = await pool.fetch(
                "select * from marts.provider_reconciliation where usage_date = $1 order by provider, model",
                day,
            )
            # The prepaid wallet runs on the real clock: its seed is valid for minutes from now.
            before = await recorded(pool, [PREPAID.slug])
            prepaid = await _until_refused(
                gw,
                keys[PREPAID.slug],
                lambda i: datetime.now(UTC),
                PREPAID.models[0],
                "app",
                "patient-portal",
            )
            await wait_recorded(pool, [PREPAID.slug], before + _sent(prepaid))
    finally:
        await remove_budget(pool, BUDGET_CUSTOMER, budget.budget_id, changed_by=OPERATOR)
    balance = wallet(await balances(pool, PREPAID.slug))
    return Findings(day, prepaid, balance, refused, spike, baseline, found, list(recon), imports)


def _sent(r: Refused) -> int:
    """Requests the scenario sent: the answered ones and the refused one (both are recorded)."""
    return r.answered + (r.status is not None)
