"""Billing: closed months, reconciliation with the raw vault, and finalised invoices.

Plain Python over asyncpg, so the Dagster billing run, the CLI and tests share one
implementation (``dagster_pipelines`` orchestrates it; nothing here imports Dagster).
"""

from warehouse.billing.finalise import (
    BillingError,
    FinalisedInvoice,
    FinaliseResult,
    MonthStillOpen,
    ReconciliationError,
    UnpricedUsage,
    content_hash,
    finalise_month,
)
from warehouse.billing.periods import Period

__all__ = [
    "BillingError",
    "FinaliseResult",
    "FinalisedInvoice",
    "MonthStillOpen",
    "Period",
    "ReconciliationError",
    "UnpricedUsage",
    "content_hash",
    "finalise_month",
]
