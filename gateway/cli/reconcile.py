"""``onevault reconcile import | show``: the provider's own bill against OneVault's ledger.

``import`` lands a provider's report in the raw vault (``warehouse.reconciliation``): pulled
from the provider's API (OpenAI, Anthropic: admin keys from ``ONEVAULT_RECONCILE_*_ADMIN_KEY``,
never a command-line argument, where ``ps`` would show it) or read from a file (``--file``:
an Azure / GCP billing export CSV, or a saved OpenAI / Anthropic API body). The daily Dagster
job ``provider_reconciliation_daily`` does the same for yesterday; this command is for
backfills, one-off files and checking a day by hand. ``show`` prints marts.provider_reconciliation
(build it with ``onevault dbt build --select +provider_reconciliation``).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import typer

from gateway.cli.runtime import operator, with_pool
from warehouse.reconciliation import (
    PROVIDER_KINDS,
    DayImport,
    ImportError_,
    ReconcileConfig,
    ReportFormatError,
    land,
    pull,
    read_export,
    source_label,
)

reconcile = typer.Typer(
    help="Reconcile OneVault's provider costs with the providers' own bills.", no_args_is_help=True
)
_ALIASES = {"azure": "azure_openai", "gcp": "gemini", "google": "gemini"}


def _kind(value: str) -> str:
    kind = _ALIASES.get(value.lower(), value.lower())
    if kind not in PROVIDER_KINDS:
        raise typer.BadParameter(f"one of {', '.join(PROVIDER_KINDS)}", param_hint="PROVIDER")
    return kind


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--day") from exc


def _print(done: list[DayImport]) -> None:
    for d in done:
        state = "unchanged" if d.unchanged else f"{d.added} row(s) added, {d.tombstoned} line(s) withdrawn"
        total = f"{d.amount_total} {d.currency}" if d.currency else "no charges"
        typer.echo(
            f"{d.usage_date}  {d.provider:<14} {d.record_source:<24} {d.lines:>4} line(s)  {total}  {state}"
        )


@reconcile.command("import")
def import_(
    provider: str = typer.Argument(..., help="openai | anthropic | azure_openai | gemini"),
    file: Path = typer.Option(None, "--file", help="Read this export / saved API body instead of pulling."),
    day: str = typer.Option(
        None, "--day", help="UTC day, YYYY-MM-DD (default: yesterday; with --file: every day in it)."
    ),
    as_: str = typer.Option(
        None, "--as", help="The provider's name in OneVault's catalog (default: the kind)."
    ),
    base_url: str = typer.Option(None, "--base-url", help="The provider's API base (default: the real one)."),
) -> None:
    """Import a provider's report of what it charged into the vault (re-importing is a no-op)."""
    kind = _kind(provider)
    wanted = _day(day)
    config = ReconcileConfig.from_env()
    source = config.sources[kind]
    if as_:
        source = dataclasses.replace(source, provider=as_)
    if base_url:
        source = dataclasses.replace(source, base_url=base_url)
    try:
        if file is not None:
            if not file.is_file():
                raise typer.BadParameter(f"{file} is not a file", param_hint="--file")
            reports = read_export(kind, file)
            label = f"file:{file.name}"
            if wanted is not None:
                reports = {k: [ln for ln in v if ln.usage_date == wanted] for k, v in reports.items()}
            days = [wanted] if wanted else sorted({ln.usage_date for v in reports.values() for ln in v})
        else:
            if not source.configured:
                what = "ADMIN_KEY" if kind in ("openai", "anthropic") else "EXPORT_DIR"
                typer.secho(
                    f"error: set ONEVAULT_RECONCILE_{kind.upper()}_{what}, or pass --file", fg="red", err=True
                )
                raise typer.Exit(2)
            wanted = wanted or datetime.now(UTC).date() - timedelta(days=1)
            reports = pull(source, wanted)
            label = source_label(source)
            days = [wanted]
    except (ImportError_, ReportFormatError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    if not days:
        typer.echo("the report lists no days: nothing imported")
        return

    async def run(pool: asyncpg.Pool) -> list[DayImport]:
        return await land(pool, source.provider, reports, days=days, source=label, imported_by=operator())

    _print(with_pool(run))


@reconcile.command("show")
def show(
    day: str = typer.Option(None, "--day", help="Only this UTC day (YYYY-MM-DD)."),
    mismatches: bool = typer.Option(False, "--mismatches", help="Only rows that are not matched."),
) -> None:
    """Print marts.provider_reconciliation: per day, provider and model, both sides and the status."""
    wanted = _day(day)

    async def run(pool: asyncpg.Pool) -> list[asyncpg.Record]:
        if await pool.fetchval("select to_regclass('marts.provider_reconciliation')") is None:
            return []
        return await pool.fetch(
            "select * from marts.provider_reconciliation where ($1::date is null or usage_date = $1) "
            "and (not $2 or status <> 'matched') order by usage_date, provider, model",
            wanted,
            mismatches,
        )

    rows = with_pool(run)
    if not rows:
        typer.echo(
            "no reconciliation rows (import a report, then: "
            "onevault dbt build --select +provider_reconciliation)"
        )
        return
    typer.echo(
        f"{'day':<10}  {'provider':<14} {'model':<28} {'onevault':>14} {'provider':>14} "
        f"{'variance':>14}  status"
    )
    for r in rows:
        note = f" ({r['likely_cause']})" if r["likely_cause"] else ""
        if r["missing_from"]:
            note = f" (not in {r['missing_from']})"
        typer.echo(
            f"{r['usage_date']!s:<10}  {r['provider']:<14} {r['model']:<28} {r['onevault_cost']:>14.6f} "
            f"{r['provider_cost']:>14.6f} {r['variance']:>14.6f}  {r['status']}{note}"
        )
