"""The period's FOCUS 1.2 chargeback file, from the ``marts.chargeback`` dbt mart.

Columns take their FOCUS names (``billed_cost`` → ``BilledCost``); OneVault's own columns keep
the ``x_`` prefix FOCUS reserves for custom columns. The mart is a derived table rebuilt by dbt,
not the insert-only vault, so ``as_of`` cannot apply to it: the manifest says when it is absent
and that it reflects the mart as last built.

Why FOCUS 1.2 and not 1.3: the file must pass the FinOps Foundation's ``focus-validator`` for the
version it claims, and its current release (2.2.1) bundles the 1.2 rule set only (1.3's would be
downloaded from GitHub, which the validator is run without: ``--block-download``). So the file
claims 1.2 and is validated as 1.2 (tests/dbt/test_focus_export.py); how shared lines are split
stays in the ``x_allocation_method`` / ``x_allocation_key`` columns until a validator for 1.3's
allocation columns can run here.
"""

from __future__ import annotations

from pathlib import Path

import asyncpg

from warehouse.audit.params import ExportScope, text_literal, ts_sql
from warehouse.audit.writers import WrittenFile, copy_to_file

FILE = "chargeback_focus.csv"
FOCUS_VERSION = "1.2"  # what the file claims and tests/dbt/test_focus_export.py validates

_X_COLUMNS = (
    "x_invoice_id",
    "x_line_key",
    "x_line_type",
    "x_team",
    "x_project",
    "x_cost_center",
    "x_end_user",
    "x_allocation_method",
    "x_requests",
    "x_allocation_key",
)
# Quantities are written with decimals (1.000000, not 1): FOCUS types them Decimal, and the
# validator infers a column's type from its values.
_QUANTITIES = ("consumed_quantity", "pricing_quantity")
_TIMES = ("billing_period_start", "billing_period_end", "charge_period_start", "charge_period_end")
_FOCUS_COLUMNS = (
    "billed_cost",
    "effective_cost",
    "list_cost",
    "contracted_cost",
    "billing_currency",
    *_TIMES,
    "charge_category",
    "charge_class",
    "charge_frequency",
    "charge_description",
    "consumed_quantity",
    "consumed_unit",
    "pricing_quantity",
    "pricing_unit",
    "service_category",
    "service_subcategory",
    "service_name",
    "provider_name",
    "publisher_name",
    "invoice_issuer_name",
    "invoice_id",
    "billing_account_id",
    "billing_account_name",
    "sku_id",
    "sku_price_id",
    "sub_account_id",
    "sub_account_name",
    "tags",
)


def focus_name(column: str) -> str:
    return "".join(part.capitalize() for part in column.split("_"))


async def mart_exists(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("select to_regclass('marts.chargeback') is not null"))


def chargeback_query(scope: ExportScope) -> str:
    cols = []
    for c in _FOCUS_COLUMNS:
        if c in _TIMES:
            expr = ts_sql(f"c.{c}")
        elif c in _QUANTITIES:
            expr = f"c.{c}::numeric(38,6)::text"
        else:
            expr = f"c.{c}::text"
        cols.append(f'{expr} as "{focus_name(c)}"')
    cols += [f"c.{c}::text as {c}" for c in _X_COLUMNS]
    return (
        f"select {', '.join(cols)} from marts.chargeback c "
        f"where c.customer_slug = {text_literal(scope.customer)} "
        f"and c.billing_period_start < '{scope.end.isoformat()}'::timestamptz "
        f"and c.billing_period_end > '{scope.start.isoformat()}'::timestamptz "
        'order by c.billing_period_start, c.x_invoice_id collate "C", c.x_line_key collate "C", '
        'c.x_team collate "C", c.x_project collate "C", c.x_cost_center collate "C", '
        'c.x_end_user collate "C", c.x_allocation_method collate "C", c.x_allocation_key::text collate "C"'
    )


async def write_chargeback(conn: asyncpg.Connection, scope: ExportScope, out: Path) -> WrittenFile | None:
    """Write the FOCUS CSV; None when the mart has not been built (dbt has not run yet)."""
    if not await mart_exists(conn):
        return None
    return await copy_to_file(conn, chargeback_query(scope), out / FILE, format="csv", header=True)
