"""``onevault chargeback export <customer> <month>``: the month's FOCUS chargeback CSV.

The same file as ``chargeback_focus.csv`` in an audit export (warehouse/audit/chargeback.py), for
one customer and one month, without the rest of the export: what a FinOps tool imports. FOCUS
1.2, checked with the FinOps Foundation's focus-validator (tests/dbt/test_focus_export.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import typer

from gateway.cli.runtime import with_pool
from warehouse.audit.chargeback import FILE, FOCUS_VERSION, write_chargeback
from warehouse.audit.params import ExportScope
from warehouse.audit.writers import WrittenFile
from warehouse.billing import Period

chargeback = typer.Typer(no_args_is_help=True, help="Chargeback: the FOCUS export of allocated invoices.")


@chargeback.command("export")
def chargeback_export(
    customer: str = typer.Argument(..., help="Customer slug."),
    month: str = typer.Argument(..., help="Billing month, YYYY-MM."),
    out: Path = typer.Option(Path("."), help="Directory to write the CSV into."),
) -> None:
    """Write the customer's FOCUS chargeback CSV for the month (from marts.chargeback)."""
    try:
        period = Period.of(month)
    except ValueError as exc:
        raise typer.BadParameter("month must look like 2025-03", param_hint="MONTH") from exc
    out.mkdir(parents=True, exist_ok=True)
    scope = ExportScope(customer, period.start, period.end, datetime.now(UTC))

    async def write(pool: asyncpg.Pool) -> WrittenFile | None:
        async with pool.acquire() as conn:
            return await write_chargeback(conn, scope, out)

    written = with_pool(write)
    if written is None:
        typer.secho(
            "marts.chargeback does not exist yet: run the billing job or `onevault dbt build`.",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(1)
    name = f"chargeback_focus_{customer}_{period.key}.csv"
    (out / FILE).replace(out / name)
    typer.echo(f"{out / name}: {written.rows} rows, FOCUS {FOCUS_VERSION}, sha256 {written.sha256}")
