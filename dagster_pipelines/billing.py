"""The billing run's own assets: finalised invoices (written into the raw vault) and their
PDF/CSV documents. The logic lives in ``warehouse.billing``; this module reports it to Dagster
so the UI shows what ran, for which month, with what result."""

# No ``from __future__ import annotations``: Dagster inspects the context annotation at runtime.
import warnings
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dagster_pipelines.dbt_assets import model_key
from dagster_pipelines.documents import invoice_dir, render
from dagster_pipelines.partitions import monthly
from dagster_pipelines.resources import Warehouse
from warehouse.billing import BillingError, FinaliseResult, Period, finalise_month
from warehouse.billing.invoices import invoices_for, money

FINALISED_INVOICES = AssetKey(["billing", "finalised_invoices"])
INVOICE_DOCUMENTS = AssetKey(["billing", "invoice_documents"])


def _table(result: FinaliseResult) -> str:
    rows = [
        "| invoice | number | subtotal | tax | total | lines | this run |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    rows += [
        f"| {i.invoice_id} | {i.invoice_number} | {money(i.subtotal)} | {money(i.tax)} | "
        f"{i.currency} {money(i.total)} | {i.lines} | {'finalised' if i.new else 'already final'} |"
        for i in result.invoices
    ]
    return "\n".join(rows)


# One run per month is what billing needs; Dagster calls the parameter "beta".
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")


@asset(
    key=FINALISED_INVOICES,
    deps=[model_key("invoices"), model_key("invoice_lines")],
    partitions_def=monthly,
    backfill_policy=BackfillPolicy.multi_run(1),
    group_name="billing",
    kinds={"postgres"},
    description="Each customer's invoice for the month, finalised into the raw vault (hub_invoice, "
    "lnk_invoice_customer, sat_invoice_snapshot; record_source 'billing-run') with a gap-free "
    "invoice number and a content hash. Re-running a finalised month changes nothing.",
)
def finalised_invoices(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    period = Period.of(context.partition_key)
    s = warehouse.settings()
    try:
        result = warehouse.run(
            lambda pool: finalise_month(pool, period, issuer=s.billing_issuer, grace_s=s.billing_grace_s)
        )
    except BillingError as exc:
        context.log.error(str(exc))
        raise Failure(description=str(exc), metadata={"month": period.key}) from exc
    context.log.info(result.summary())
    return MaterializeResult(
        metadata={
            "month": period.key,
            "result": result.summary(),
            "no_op": result.noop,
            "finalised_now": len(result.written),
            "already_final": len(result.already),
            "total_billed": MetadataValue.text(
                ", ".join(
                    f"{c} {money(sum((i.total for i in result.invoices if i.currency == c), 0))}"
                    for c in sorted({i.currency for i in result.invoices})
                )
                or "0.00"
            ),
            "invoices": MetadataValue.md(_table(result)),
        }
    )


@asset(
    key=INVOICE_DOCUMENTS,
    deps=[FINALISED_INVOICES],
    partitions_def=monthly,
    backfill_policy=BackfillPolicy.multi_run(1),
    group_name="billing",
    kinds={"pdf", "csv"},
    description="One PDF and one CSV per finalised invoice, in ONEVAULT_HOME/invoices/<yyyy-mm>/.",
)
def invoice_documents(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    period = Period.of(context.partition_key)
    docs = [d for d in warehouse.run(lambda pool: invoices_for(pool, period)) if d.status == "finalised"]
    directory = invoice_dir(warehouse.settings().home_dir, period.key)
    rendered = [render(doc, directory) for doc in docs]
    for r in rendered:
        context.log.info(f"{r.invoice_id}: {r.pdf}")
    rows = ["| customer | PDF | CSV |", "|---|---|---|"]
    rows += [f"| {r.customer} | `{r.pdf}` | `{r.csv}` |" for r in rendered]
    metadata: dict[str, Any] = {
        "month": period.key,
        "directory": MetadataValue.path(str(directory)),
        "documents": len(rendered),
        "files": MetadataValue.md("\n".join(rows)),
    }
    if rendered:
        metadata["first_pdf"] = MetadataValue.path(str(rendered[0].pdf))
    return MaterializeResult(metadata=metadata)
