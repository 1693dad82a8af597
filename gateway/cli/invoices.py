"""``onevault invoices show <customer> <yyyy-mm>``: an invoice in the terminal.

A finalised invoice comes from its raw-vault snapshot (it never changes); otherwise the draft
from the marts (``onevault dbt build`` or a billing run refreshes them).
"""

from __future__ import annotations

import asyncpg
import typer

from gateway.cli.runtime import settings, with_pool
from warehouse.billing import Period
from warehouse.billing.invoices import invoices_for, render_text

invoices = typer.Typer(no_args_is_help=True, help="Invoices: finalised by the billing run, or drafts.")


@invoices.command("show")
def show(
    customer: str = typer.Argument(..., help="Customer slug."),
    month: str = typer.Argument(..., help="Billing month, YYYY-MM."),
) -> None:
    """Print one customer's invoice for a month (finalised snapshot, else the marts' draft)."""
    try:
        period = Period.of(month)
    except ValueError as exc:
        raise typer.BadParameter("month must look like 2025-03", param_hint="MONTH") from exc

    async def load(pool: asyncpg.Pool) -> list:
        return await invoices_for(pool, period, customer)

    found = with_pool(load)
    if not found:
        typer.secho(
            f"No invoice for {customer} in {period}: no usage or subscriptions, or the marts are not "
            "built yet (run the billing job, or `onevault dbt build`).",
            fg=typer.colors.YELLOW,
            err=True,
        )
        raise typer.Exit(1)
    doc = found[0]
    typer.echo(render_text(doc))
    pdf = settings().home_dir / "invoices" / period.key / f"{doc.file_stem}.pdf"
    if pdf.exists():
        typer.echo(f"PDF: {pdf}")
