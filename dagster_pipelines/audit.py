"""The audit-export job: one customer, one period per run (launch it from the UI's Launchpad,
or ``execute_in_process`` with ``run_config_for``); the run's tags name the customer, so the
UI lists each customer's exports.

The work is ``warehouse.audit.export_customer`` — the same export as ``onevault audit export``,
signed with the same key and chained in the same vault record.
"""

# (no `from __future__ import annotations`: Dagster reads the Config annotation at run time)
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from dagster import Config, OpExecutionContext, job, op

from dagster_pipelines.resources import Warehouse
from warehouse.audit import ExportScope, SigningKey, export_customer

JOB_NAME = "audit_export"


class AuditExportConfig(Config):
    customer: str
    period_from: str  # YYYY-MM-DD, inclusive
    period_to: str  # YYYY-MM-DD, exclusive
    as_of: str | None = None  # ISO-8601; default: the run's start
    out_dir: str | None = None  # default: ONEVAULT_HOME/audit-exports/<customer>/<from>_<to>_<run id>
    include_payloads: bool = False


@op(description="Export a customer's signed, chained audit record for a period.")
def audit_export_op(context: OpExecutionContext, config: AuditExportConfig, warehouse: Warehouse) -> None:
    settings = warehouse.settings()
    as_of = datetime.fromisoformat(config.as_of.replace("Z", "+00:00")) if config.as_of else datetime.now(UTC)
    scope = ExportScope(
        config.customer,
        date.fromisoformat(config.period_from),
        date.fromisoformat(config.period_to),
        as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC),
    )
    out = (
        Path(config.out_dir)
        if config.out_dir
        else settings.home_dir
        / "audit-exports"
        / config.customer
        / f"{config.period_from}_{config.period_to}_{context.run_id[:8]}"
    )
    key = SigningKey.from_settings(settings)
    result = warehouse.run(
        lambda pool: export_customer(
            pool,
            scope,
            out,
            key,
            created_by=f"dagster:{context.run_id}",
            issuer=settings.billing_issuer,
            include_payloads=config.include_payloads,
        )
    )
    context.log.info(
        f"exported {config.customer} to {result.out}: {result.totals['requests']} requests, "
        f"manifest {result.manifest_sha256} (previous {result.previous_manifest_sha256})"
    )
    context.add_output_metadata(
        {
            "directory": str(result.out),
            "export_id": result.export_id,
            "manifest_sha256": result.manifest_sha256,
            "previous_manifest_sha256": result.previous_manifest_sha256 or "(first export)",
            "requests": result.totals["requests"],
            "customer_cost": result.totals["customer_cost"],
        }
    )


@job(name=JOB_NAME, tags={"onevault/kind": "audit-export"}, description=__doc__.split("\n\n")[0])
def audit_export_job() -> None:
    audit_export_op()


def run_config_for(customer: str, period_from: str, period_to: str, **extra: Any) -> dict[str, Any]:
    """Run config (and, in ``tags_for``, tags) for one export run."""
    return {
        "ops": {
            "audit_export_op": {
                "config": {"customer": customer, "period_from": period_from, "period_to": period_to, **extra}
            }
        }
    }


def tags_for(customer: str) -> dict[str, str]:
    return {"onevault/customer": customer}
