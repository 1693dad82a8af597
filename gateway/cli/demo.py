"""``onevault demo``: the README's tour.

A month of simulated traffic for the *previous* calendar month goes through the real gateway
(see ``demo_traffic``), then the Dagster billing run for that month runs here, recorded in the
same Dagster instance ``onevault up`` serves, and each customer's invoice is summarised.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

import asyncpg
import typer
from dagster import DagsterEventType, EventLogEntry

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
        m = event.event_specific_data.materialization  # type: ignore[union-attr]
        key = m.asset_key.to_user_string()
        if key.startswith("billing/"):
            result = m.metadata.get("result") or m.metadata.get("directory")
            return f"    materialised {key}: {result.value if result else ''}"
        return None
    if kind == DagsterEventType.ASSET_CHECK_EVALUATION:
        c = event.event_specific_data  # type: ignore[union-attr]
        if c.asset_key.path[0] in ("marts", "raw_vault", "billing") and c.check_name in {
            "invoices_reconcile_with_cost_events",
            "no_unpriced_usage",
            "loader_freshness",
            "chargeback_sums",
        }:
            return f"    check {c.check_name}: {'passed' if c.passed else 'FAILED'} — {c.description or ''}"
    return None


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
        "dearer from the 15th (a dated price override); Initech's monthly budget runs out (402).\n"
        "No cache hits: the gateway has no response cache on this path yet.\n"
    )
    traffic = _traffic(period, endpoints.database_url, endpoints.redis_url, scale)
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
    pdfs = s.home_dir / "invoices" / period.key
    typer.echo(f"\nPDFs and CSVs:  {pdfs}")
    typer.echo(f"One invoice:    onevault invoices show {docs[0].customer if docs else 'acme'} {period.key}")
    typer.echo(
        f"Dagster UI:     http://{s.dagster_host}:{s.dagster_port}  "
        f"(with `onevault up` running; this run is {run.run_id})"
    )
    if not run.success:
        raise typer.Exit(1)


def _print(line: str | None) -> None:
    if line:
        typer.echo(line)
