"""Asset checks that keep billing honest, computed from the raw vault (not from dbt):

* reconciliation — each invoice equals its month's cost events, to the cent (blocking);
* no unpriced usage — a month with usage we could not price must not be finalised (blocking);
* loader freshness — events still waiting in the Redis stream would be missing from a run;
* chargeback sums — the month's chargeback allocates each invoice exactly;
* new spend anomalies — flags not yet sent as the spend.anomaly webhook (a warning).
"""

# No ``from __future__ import annotations``: Dagster inspects the context annotation at runtime.
import warnings
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from dagster_pipelines.dbt_assets import model_key
from dagster_pipelines.partitions import monthly
from dagster_pipelines.project import load_manifest, model_names
from dagster_pipelines.resources import Warehouse
from warehouse.anomalies import unsent_anomalies
from warehouse.billing import Period
from warehouse.billing.reconcile import reconcile, unpriced_usage
from warehouse.stream_loader import StreamLoader

# Per-partition check results (one per month in the UI) are a "preview" feature in Dagster 1.13.
warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec")

COST_EVENTS = AssetKey(["raw_vault", "sat_cost_event_details"])
MAX_LOADER_LAG_S = 60.0


def _period(context: AssetCheckExecutionContext) -> Period:
    return Period.of(context.partition_key)


@asset_check(
    asset=model_key("invoices"),
    partitions_def=monthly,
    blocking=True,
    description="Every invoice's usage equals the month's cost events in the raw vault, to the cent; "
    "subtotal = Σ lines and total = subtotal + tax. Blocks finalisation when it fails.",
)
def invoices_reconcile_with_cost_events(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> AssetCheckResult:
    period = _period(context)
    rows = warehouse.run(lambda pool: reconcile(pool, period))
    bad = [r for r in rows if not r.ok]
    table = ["| customer | cost events | invoice usage (exact) | problems |", "|---|---:|---:|---|"]
    table += [
        f"| {r.customer} | {r.vault_customer_cost} | {r.mart_customer_cost} | "
        f"{'; '.join(r.problems) or 'ok'} |"
        for r in rows
    ]
    return AssetCheckResult(
        passed=not bad,
        severity=AssetCheckSeverity.ERROR,
        description=f"{period}: {len(rows) - len(bad)} of {len(rows)} customer(s) reconcile",
        metadata={
            "month": period.key,
            "customers": len(rows),
            "mismatches": len(bad),
            "cost_events_total": str(sum((r.vault_customer_cost for r in rows), Decimal(0))),
            "detail": MetadataValue.md("\n".join(table)),
        },
    )


@asset_check(
    asset=model_key("invoices"),
    partitions_def=monthly,
    blocking=True,
    description="No cost event of a month being finalised lacks a price (it would bill as 0.00).",
)
def no_unpriced_usage(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
    period = _period(context)
    found = warehouse.run(lambda pool: unpriced_usage(pool, period))
    events = sum(u.events for u in found)
    message = (
        f"{period}: no unpriced usage"
        if not found
        else f"{period}: {events} unpriced cost event(s) block finalisation "
        f"({'; '.join(map(str, found))}). Add the price (ONEVAULT_PRICES_FILE) and re-run billing."
    )
    return AssetCheckResult(
        passed=not found,
        severity=AssetCheckSeverity.ERROR,
        description=message,
        metadata={"month": period.key, "unpriced_events": events},
    )


@asset_check(
    asset=COST_EVENTS,
    description=f"The vault loader keeps up: the oldest event not yet loaded is under {MAX_LOADER_LAG_S:g} s "
    "old (otherwise a billing run would miss it).",
)
def loader_freshness(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
    settings = warehouse.settings()

    async def measure(pool: asyncpg.Pool, redis: aioredis.Redis) -> tuple[float, int, datetime | None]:
        lag = await StreamLoader.from_settings(redis, pool, settings).lag_seconds()
        try:
            waiting = await redis.xlen(settings.event_stream)
        except aioredis.RedisError:
            waiting = -1
        newest = await pool.fetchval("select max(load_dts) from raw_vault.sat_cost_event_details")
        return lag, waiting, newest

    lag, waiting, newest = warehouse.run_with_redis(measure)
    metadata: dict[str, Any] = {"loader_lag_s": round(lag, 3), "stream_entries": waiting}
    if newest is not None:
        metadata["newest_load_age_s"] = round((datetime.now(UTC) - newest).total_seconds(), 1)
    return AssetCheckResult(
        passed=lag <= MAX_LOADER_LAG_S,
        severity=AssetCheckSeverity.WARN,
        description=f"loader lag {lag:.1f} s (limit {MAX_LOADER_LAG_S:g} s)",
        metadata=metadata,
    )


CHARGEBACK_VS_INVOICES = """
select i.invoice_id, i.subtotal, coalesce(sum(c.billed_cost), 0) as allocated
from marts.invoices i
left join marts.chargeback c on c.x_invoice_id = i.invoice_id
where i.billing_period_start = $1
group by i.invoice_id, i.subtotal
order by i.invoice_id
"""


@asset_check(
    asset=model_key("chargeback"),
    partitions_def=monthly,
    description="Chargeback allocates every invoice exactly: Σ billed_cost per invoice = its subtotal.",
)
def chargeback_sums(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
    period = _period(context)
    rows = warehouse.run(lambda pool: pool.fetch(CHARGEBACK_VS_INVOICES, period.start))
    bad = [r for r in rows if r["allocated"] != r["subtotal"]]
    return AssetCheckResult(
        passed=not bad,
        severity=AssetCheckSeverity.ERROR,
        description=f"{period}: {len(rows) - len(bad)} of {len(rows)} invoice(s) fully allocated"
        + (f"; off: {', '.join(f'{r[0]} {r[2]} vs {r[1]}' for r in bad)}" if bad else ""),
        metadata={
            "month": period.key,
            "invoices": len(rows),
            "allocated": str(sum((r["allocated"] for r in rows), Decimal(0))),
            "invoiced": str(sum((r["subtotal"] for r in rows), Decimal(0))),
        },
    )


@asset_check(
    asset=model_key("spend_anomalies"),
    description="No spend anomaly flagged in the last week that was not yet sent as the spend.anomaly "
    "webhook (docs/billing/anomalies.md). Warns: a flag is news for the customer, not a broken build.",
)
def spend_anomalies_new_flags(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
    found = warehouse.run(unsent_anomalies)
    table = ["| hour (UTC) | customer | key | model | kind | requests (median) | spend (median) |"]
    table += ["|---|---|---|---|---|---:|---:|"]
    table += [
        f"| {a.hour_start:%Y-%m-%d %H:00} | {a.customer_slug} | {a.gateway_key_id or '-'} | "
        f"{a.provider}/{a.model} | {a.anomaly} | {a.requests} ({a.requests_median}) | "
        f"{a.customer_cost:.2f} ({a.spend_median}) |"
        for a in found[:50]
    ]
    return AssetCheckResult(
        passed=not found,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(found)} new spend anomaly flag(s)" if found else "no new spend anomalies",
        metadata={
            "new_flags": len(found),
            "customers": len({a.customer_slug for a in found}),
            "detail": MetadataValue.md("\n".join(table)),
        },
    )


def build_checks() -> list[AssetChecksDefinition]:
    present = model_names(load_manifest())
    checks = [loader_freshness]
    if "invoices" in present:
        checks += [invoices_reconcile_with_cost_events, no_unpriced_usage]
    if "chargeback" in present and "invoices" in present:
        checks.append(chargeback_sums)
    if "spend_anomalies" in present:
        checks.append(spend_anomalies_new_flags)
    return checks
