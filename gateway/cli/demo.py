"""``onevault demo``: the README's tour.

A month of simulated traffic for the *previous* calendar month goes through the real gateway
(see ``demo_traffic``), then the Dagster billing run for that month runs here, recorded in the
same Dagster instance ``onevault up`` serves, and each customer's invoice is summarised. Then
the money scenarios (``demo_scenarios``: prepaid credit running out, a team budget refusing, a
planted spend anomaly, a provider bill that does not reconcile) play on the next month's first
weekday and what the warehouse found is printed.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import asyncpg
import typer
from dagster import DagsterEventType, EventLogEntry

from gateway.cli.demo_scenarios import (
    BUDGET_CUSTOMER,
    BUDGET_LIMIT,
    BUDGET_TAG,
    PREPAID,
    PREPAID_GRANT,
    SPIKE_CUSTOMER,
    Findings,
    Refused,
    play,
    scenario_day,
)
from gateway.cli.demo_traffic import TrafficSummary, previous_month, replay_month
from gateway.cli.runtime import servers, settings
from gateway.cli.up import bootstrap
from warehouse.billing import Period
from warehouse.billing.invoices import InvoiceDoc, invoices_for, money
from warehouse.db import create_pool


def _traffic(period: Period, database_url: str, redis_url: str, scale: float) -> TrafficSummary:
    s = settings()

    async def main() -> TrafficSummary:
        pool = await create_pool(database_url, min_size=1, max_size=4)
        try:
            with typer.progressbar(length=1, label=f"Traffic for {period}", show_pos=True) as bar:
                done = 0

                def progress(i: int, total: int) -> None:
                    nonlocal done
                    bar.length = total
                    bar.update(i - done)
                    done = i

                return await replay_month(
                    period,
                    database_url=database_url,
                    redis_url=redis_url,
                    work_dir=s.home_dir / "demo",
                    pool=pool,
                    scale=scale,
                    progress=progress,
                )
        finally:
            await pool.close()

    return asyncio.run(main())


def _scenarios(
    period: Period, traffic: TrafficSummary, database_url: str, redis_url: str, scale: float
) -> Findings:
    s = settings()

    async def main() -> Findings:
        pool = await create_pool(database_url, min_size=1, max_size=4)
        try:
            return await play(
                period,
                traffic,
                database_url=database_url,
                redis_url=redis_url,
                work_dir=s.home_dir / "demo",
                pool=pool,
                dbt_dir=s.home_dir / "dbt",
                scale=scale,
            )
        finally:
            await pool.close()

    return asyncio.run(main())


def _event_line(entry: EventLogEntry) -> str | None:
    event = entry.dagster_event
    if event is None:
        return None
    kind = event.event_type
    if kind == DagsterEventType.STEP_START:
        return f"  > {event.step_key} started"
    if kind == DagsterEventType.STEP_SUCCESS:
        return f"  ok {event.step_key}"
    if kind == DagsterEventType.STEP_FAILURE:
        return f"  FAILED {event.step_key}"
    if kind == DagsterEventType.STEP_SKIPPED:
        return f"  skipped {event.step_key}"
    if kind == DagsterEventType.ASSET_MATERIALIZATION:
        m = cast(Any, event.event_specific_data).materialization
        key = m.asset_key.to_user_string()
        if key.startswith("billing/"):
            result = m.metadata.get("result") or m.metadata.get("directory")
            return f"    materialised {key}: {result.value if result else ''}"
        return None
    if kind == DagsterEventType.ASSET_CHECK_EVALUATION:
        c = cast(Any, event.event_specific_data)
        if c.asset_key.path[0] in ("marts", "raw_vault", "billing") and c.check_name in {
            "invoices_reconcile_with_cost_events",
            "no_unpriced_usage",
            "loader_freshness",
            "chargeback_sums",
        }:
            return f"    check {c.check_name}: {'passed' if c.passed else 'FAILED'} — {c.description or ''}"
    return None


# Lines the tour points out under each invoice: what a plan or a grant added to it.
_PLAN_LINES = {"credit": "credit line", "markup": "markup band", "savings_share": "savings share"}


def _summaries(database_url: str, period: Period) -> list[InvoiceDoc]:
    async def main() -> list[InvoiceDoc]:
        conn = await asyncpg.connect(database_url)
        try:
            return await invoices_for(conn, period)
        finally:
            await conn.close()

    return asyncio.run(main())


def demo(
    month: str = typer.Option(None, help="Month to simulate, YYYY-MM (default: the previous month)."),
    scale: float = typer.Option(1.0, help="Traffic volume relative to the built-in scenario."),
) -> None:
    """Simulate last month's traffic, run its billing, and print each customer's invoice."""
    from dagster import DagsterInstance

    from dagster_pipelines.instance import prepare_home
    from dagster_pipelines.project import prepare_manifest
    from dagster_pipelines.runner import run_billing

    s = settings()
    endpoints = servers()
    asyncio.run(bootstrap(endpoints.database_url, s.home_dir))
    period = Period.of(month) if month else previous_month()
    typer.secho(f"OneVault demo: {period} replayed through the gateway, then billed\n", bold=True)
    typer.echo(
        "Scenario: Acme, Globex and Initech with teams and end users; OpenAI, Anthropic, Gemini, Azure\n"
        "OpenAI and Cohere models; an OpenAI outage mid-month (failover to Azure OpenAI); gpt-4o-mini\n"
        "dearer from the 15th (a dated price override); Initech's monthly budget runs out (402); Globex\n"
        "has a welcome credit (a credit line) and a 10:00 batch job every weekday.\n"
        "No cache hits: the gateway has no response cache on this path yet.\n"
    )
    started = time.monotonic()
    took: dict[str, float] = {}
    traffic = _traffic(period, endpoints.database_url, endpoints.redis_url, scale)
    took["traffic"] = time.monotonic() - started
    refused = sum(traffic.budget_refusals.values())
    typer.echo(
        f"\n{traffic.sent} requests: {traffic.statuses[200]} answered, {traffic.failovers} via failover "
        f"(OpenAI down on day {traffic.outage_day}), "
        f"{refused} refused by a budget ({', '.join(traffic.budget_refusals) or 'none'}); all in the vault.\n"
    )

    closes = period.closes_at(s.billing_grace_s)
    if datetime.now(UTC) < closes:
        typer.secho(
            f"{period} only closes for billing at {closes:%Y-%m-%d %H:%M} UTC: expect a refusal.", fg="yellow"
        )
    typer.echo(f"Billing run for {period} (Dagster job billing_run, partition {period.start}):")
    prepare_manifest(endpoints.database_url)
    os.environ["DAGSTER_HOME"] = str(prepare_home(s))
    with DagsterInstance.get() as instance:
        run = run_billing(
            period.key,
            instance=instance,
            on_event=lambda e: _print(_event_line(e)),
            console_log_level="ERROR",  # the progress lines below say what happens
        )
    if not run.success:
        typer.secho(f"\nThe billing run failed: {'; '.join(run.failures())}", fg="red", err=True)

    took["billing"] = time.monotonic() - started - sum(took.values())
    docs = _summaries(endpoints.database_url, period)
    typer.secho(f"\nInvoices for {period}", bold=True)
    typer.echo(
        f"  {'customer':<26} {'number':<11} {'status':<10} {'lines':>5} "
        f"{'subtotal':>10} {'tax':>9} {'total':>12}"
    )
    for d in docs:
        typer.echo(
            f"  {d.customer_name[:26]:<26} {d.invoice_number or '-':<11} {d.status:<10} {len(d.lines):>5} "
            f"{money(d.subtotal):>10} {money(d.tax):>9} {d.currency} {money(d.total):>8}"
        )
        for line in d.lines:
            kind = _PLAN_LINES.get(str(line.get("line_type")))
            if kind:
                typer.echo(f"  {'':<26} {kind}: {line.get('description')}  {money(line['amount'])}")

    typer.secho(
        f"\nMoney scenarios through the same gateway, on {scenario_day(period)} (the next month's first "
        "weekday; the prepaid one now), then dbt builds the anomaly and reconciliation marts",
        bold=True,
    )
    findings = _scenarios(period, traffic, endpoints.database_url, endpoints.redis_url, scale)
    print_findings(findings)
    took["scenarios"] = time.monotonic() - started - sum(took.values())

    pdfs = s.home_dir / "invoices" / period.key
    typer.echo(f"\nPDFs and CSVs:  {pdfs}")
    typer.echo(f"One invoice:    onevault invoices show {docs[0].customer if docs else 'acme'} {period.key}")
    typer.echo(
        f"Dagster UI:     http://{s.dagster_host}:{s.dagster_port}  "
        f"(with `onevault up` running; this run is {run.run_id})"
    )
    typer.echo(
        f"Took {time.monotonic() - started:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in took.items())
    )
    if not run.success:
        raise typer.Exit(1)


def print_findings(f: Findings) -> None:
    """The "what it found" section: each scenario's refusal or flag, as the customer or the
    operator would see it."""
    typer.secho("\nWhat it found", bold=True)
    _row("Prepaid credit", f"{PREPAID.name} ({PREPAID.slug}, prepaid, {PREPAID_GRANT} USD granted):")
    _refusal(f.prepaid)
    _row("", f"wallet balance now {f.prepaid_balance:.6f} USD (onevault credits show {PREPAID.slug})")
    _row("Team budget", f"{BUDGET_CUSTOMER} tag:{BUDGET_TAG}, monthly, {BUDGET_LIMIT} USD:")
    _refusal(f.budget)
    details = f.budget.error.get("details", {})
    if details.get("budget_id"):
        _row("", f"budget {details['budget_id']} ({details.get('scope')}), removed after the demo")
    _row(
        "Spend anomaly",
        f"{SPIKE_CUSTOMER}'s 10:00 batch job sent {f.spike_requests} requests instead of "
        f"{f.baseline_requests}; onevault anomalies list {SPIKE_CUSTOMER} --since {f.day}:",
    )
    for a in f.anomalies:
        _row(
            "",
            f"{a.hour_start:%Y-%m-%d %H:00}Z {a.anomaly} {a.provider}/{a.model} key {a.gateway_key_id}: "
            f"requests {a.requests} vs median {_num(a.requests_median)} (score {_num(a.requests_score)}), "
            f"spend {a.customer_cost:.4f} vs median {_num(a.spend_median, '.4f')} USD "
            f"over {a.baseline_weeks} baseline weeks",
        )
    if not f.anomalies:
        _row("", "nothing flagged (unexpected)")
    mismatched = [r for r in f.reconciliation if r["status"] != "matched"]
    _row(
        "Reconciliation",
        f"the simulated providers' bills for {f.day} ({len(f.imports)} reports imported): "
        f"{len(f.reconciliation) - len(mismatched)} matched, {len(mismatched)} not; "
        "onevault reconcile show --mismatches:",
    )
    for r in mismatched:
        cause = f" ({r['likely_cause']})" if r["likely_cause"] else ""
        if r["missing_from"]:
            cause = f" (not in {r['missing_from']})"
        _row(
            "",
            f"{r['usage_date']} {r['provider']}/{r['model']}: OneVault {r['onevault_cost']:.6f}, "
            f"provider {r['provider_cost']:.6f}, variance {r['variance']:+.6f} {r['currency'] or ''} "
            f"{r['status']}{cause}",
        )


def _row(label: str, text: str) -> None:
    typer.echo(f"  {label:<16} {text}")


def _refusal(r: Refused) -> None:
    if r.status is None:
        _row("", f"{r.answered} requests answered, never refused (unexpected)")
        return
    e = r.error
    balance = e.get("details", {}).get("balance")
    left = f", balance {balance}" if balance is not None else ""
    _row("", f"{r.answered} requests answered, then {r.status} {e.get('code')}{left}:")
    _row("", f"  {e.get('message')}")


def _num(value: Decimal | None, spec: str = "f") -> str:
    return "-" if value is None else format(value.normalize() if spec == "f" else value, spec)


def _print(line: str | None) -> None:
    if line:
        typer.echo(line)
