"""The daily reconciliation against the providers' own bills (docs/billing/reconciliation.md).

* ``provider_reports`` — a daily-partitioned asset: for the partition's UTC day, pull each
  configured provider's report (OpenAI Costs/Usage API, Anthropic Admin reports) or read its
  billing export (Azure, GCP) and land it in the vault (``warehouse.reconciliation``; sources
  from ``ONEVAULT_RECONCILE_*``). Its keys are the dbt source tables, so the staging models and
  ``marts/provider_reconciliation`` hang below it in the asset graph.
* ``provider_reconciliation_daily`` — that asset, then the mart and what it needs; scheduled at
  06:00 UTC for the day before (providers publish a day's costs with a delay of hours).
* ``provider_reconciliation_variance`` — an asset check on the mart that *warns* (never blocks:
  a provider's bill is evidence to look at, not a reason to stop billing) when a recent row is
  not matched and its variance exceeds ``ONEVAULT_RECONCILE_WARN_ABS`` (default 0: any row the
  mart did not judge matched within its tolerance).
"""

# No ``from __future__ import annotations``: Dagster inspects the context annotation at runtime.
import functools
import os
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    DefaultScheduleStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset_check,
    build_schedule_from_partitioned_job,
    define_asset_job,
    multi_asset,
)

from dagster_pipelines.dbt_assets import model_key
from dagster_pipelines.partitions import daily
from dagster_pipelines.project import load_manifest, model_names
from dagster_pipelines.resources import Warehouse
from warehouse.reconciliation import (
    DayImport,
    ImportError_,
    ReconcileConfig,
    ReportFormatError,
    land,
    pull,
    source_label,
)

MART = "provider_reconciliation"
REPORT_LINES = AssetKey(["provider_reports", "sat_provider_report_line"])
REPORT_IMPORTS = AssetKey(["provider_reports", "sat_provider_report_import"])
JOB_NAME = "provider_reconciliation_daily"
RECENT_DAYS = 7


@multi_asset(
    specs=[
        AssetSpec(REPORT_LINES, group_name="provider_reports", description="The providers' report lines."),
        AssetSpec(REPORT_IMPORTS, group_name="provider_reports", description="Each imported day's report."),
    ],
    partitions_def=daily,
    name="provider_reports",
    description="Import each configured provider's report of what it charged on the partition's day.",
)
def provider_reports(
    context: AssetExecutionContext, warehouse: Warehouse
) -> tuple[MaterializeResult, MaterializeResult]:
    day = date.fromisoformat(context.partition_key)
    config = ReconcileConfig.from_env()
    sources = config.configured()
    done: list[DayImport] = []
    errors: list[str] = []
    for source in sources:
        try:
            reports = pull(source, day)
        except (ImportError_, ReportFormatError, OSError) as exc:
            errors.append(f"{source.kind}: {exc}")
            continue
        done += warehouse.run(
            functools.partial(
                land,
                provider=source.provider,
                reports=reports,
                days=[day],
                source=source_label(source),
                imported_by=f"dagster:{context.run_id}",
            )
        )
    if not sources:
        context.log.warning("no provider report configured (ONEVAULT_RECONCILE_*): nothing to reconcile")
    table = ["| provider | report | lines | total | vault |", "|---|---|---:|---:|---|"]
    table += [
        f"| {d.provider} | {d.record_source} | {d.lines} | {d.amount_total} {d.currency or ''} | "
        f"{'unchanged' if d.unchanged else f'+{d.added} rows, {d.tombstoned} withdrawn'} |"
        for d in done
    ]
    if errors:
        raise Failure(f"{day}: {len(errors)} report(s) failed: " + "; ".join(errors))
    metadata: dict[str, Any] = {
        "day": day.isoformat(),
        "providers": len(sources),
        "lines": sum(d.lines for d in done),
        "detail": MetadataValue.md("\n".join(table)),
    }
    return (
        MaterializeResult(asset_key=REPORT_LINES, metadata=metadata),
        MaterializeResult(asset_key=REPORT_IMPORTS, metadata={"day": day.isoformat(), "imports": len(done)}),
    )


def _why(row: Any) -> str:
    why = row["likely_cause"] or (f"not in {row['missing_from']}" if row["missing_from"] else None)
    return f" ({why})" if why else ""


MISMATCHES = """
select usage_date, provider, model, status, likely_cause, missing_from, onevault_cost, provider_cost, variance
from marts.provider_reconciliation
where usage_date >= $1 and status <> 'matched' and abs(variance) > $2
order by usage_date, provider, model
"""


@asset_check(
    asset=model_key(MART),
    description="No provider bill of the last week differs from OneVault's cost events beyond the "
    "threshold (ONEVAULT_RECONCILE_WARN_ABS): names the day, provider and model that do.",
)
def provider_reconciliation_variance(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> AssetCheckResult:
    threshold = Decimal(os.environ.get("ONEVAULT_RECONCILE_WARN_ABS", "0"))
    since = date.today() - timedelta(days=RECENT_DAYS)

    async def fetch(pool: Any) -> list[Any]:
        if await pool.fetchval("select to_regclass('marts.provider_reconciliation')") is None:
            return []
        return await pool.fetch(MISMATCHES, since, threshold)

    rows = warehouse.run(fetch)
    table = [
        "| day | provider | model | status | OneVault | provider | variance |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    table += [
        f"| {r['usage_date']} | {r['provider']} | {r['model']} | {r['status']}{_why(r)}"
        f" | {r['onevault_cost']} | {r['provider_cost']} | {r['variance']} |"
        for r in rows
    ]
    named = ", ".join(f"{r['usage_date']} {r['provider']}/{r['model']} {r['status']}" for r in rows[:5])
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(rows)} mismatch(es) since {since}" + (f": {named}" if rows else ""),
        metadata={
            "since": since.isoformat(),
            "threshold": str(threshold),
            "mismatches": len(rows),
            "variance_total": str(sum((r["variance"] for r in rows), Decimal(0))),
            "detail": MetadataValue.md("\n".join(table)),
        },
    )


def build_reconciliation() -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """(assets, checks, jobs, schedules) — empty when the manifest has no reconciliation mart."""
    if MART not in model_names(load_manifest()):
        return [], [], [], []
    job = define_asset_job(
        JOB_NAME,
        selection=AssetSelection.assets(model_key(MART)).upstream().materializable(),
        partitions_def=daily,
        tags={"onevault/dbt": "true"},
        description="Import the providers' own reports of the day, rebuild provider_reconciliation, "
        "and warn where a bill differs from OneVault's cost events.",
    )
    schedule = build_schedule_from_partitioned_job(
        job,
        name="provider_reconciliation_schedule",
        hour_of_day=6,
        minute_of_hour=0,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Reconciles the day that just ended, once providers have published it.",
    )
    return [provider_reports], [provider_reconciliation_variance], [job], [schedule]
