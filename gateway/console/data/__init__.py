"""The console's query layer: the only place console pages read data.

Every function takes a ``Scope`` first (one customer, or an operator's every customer) and
returns frozen dataclasses; each query applies the scope through ``ScopedQuery`` (scope.py).
Pages read the marts and indexed vault tables only — never a scan of the raw vault.
"""

from gateway.console.data.budgets import BudgetsPage, BudgetView, Delivery, budgets_with_deliveries
from gateway.console.data.invoices import InvoiceSummary, invoice, invoices
from gateway.console.data.keys import keys_last_used
from gateway.console.data.operator import (
    BillingRuns,
    CustomerSpend,
    CustomerView,
    LoaderHealth,
    billing_runs,
    customers,
    loader_health,
    platform_spend,
)
from gateway.console.data.overview import BudgetLine, DayPoint, Overview, Ranked, overview
from gateway.console.data.performance import PerformanceSeries, provider_performance
from gateway.console.data.requests import (
    RequestDetail,
    RequestPage,
    RequestQuery,
    RequestRow,
    request_detail,
    request_log,
)
from gateway.console.data.scope import Scope, ScopeNotApplied, require_operator
from gateway.console.data.spend import DIMENSIONS, Dimension, SpendFilters, SpendTable, spend, spend_csv

__all__ = [
    "DIMENSIONS",
    "BillingRuns",
    "BudgetLine",
    "BudgetView",
    "BudgetsPage",
    "CustomerSpend",
    "CustomerView",
    "DayPoint",
    "Delivery",
    "Dimension",
    "InvoiceSummary",
    "LoaderHealth",
    "Overview",
    "PerformanceSeries",
    "Ranked",
    "RequestDetail",
    "RequestPage",
    "RequestQuery",
    "RequestRow",
    "Scope",
    "ScopeNotApplied",
    "SpendFilters",
    "SpendTable",
    "billing_runs",
    "budgets_with_deliveries",
    "customers",
    "invoice",
    "invoices",
    "keys_last_used",
    "loader_health",
    "overview",
    "platform_spend",
    "provider_performance",
    "request_detail",
    "request_log",
    "require_operator",
    "spend",
    "spend_csv",
]
