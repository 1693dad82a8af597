"""Reconciliation against the provider's own bill: importers for what OpenAI, Anthropic, Azure
and Google Cloud report they charged, landed in the raw vault (sql/020_provider_reports.sql)
for dbt's ``marts.provider_reconciliation`` (docs/billing/reconciliation.md)."""

from warehouse.reconciliation.importer import (
    ImportError_,
    ProviderSource,
    ReconcileConfig,
    land,
    pull,
    read_export,
    source_label,
)
from warehouse.reconciliation.lines import PROVIDER_KINDS, SOURCES, ReportLine, normalise_model
from warehouse.reconciliation.parsers import ReportFormatError
from warehouse.reconciliation.store import DayImport, store_report

__all__ = [
    "PROVIDER_KINDS",
    "SOURCES",
    "DayImport",
    "ImportError_",
    "ProviderSource",
    "ReconcileConfig",
    "ReportFormatError",
    "ReportLine",
    "land",
    "normalise_model",
    "pull",
    "read_export",
    "source_label",
    "store_report",
]
