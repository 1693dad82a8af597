"""The ``onevault`` command."""

from __future__ import annotations

import typer

from gateway.cli import (
    admin,
    alerts,
    anomalies,
    audit,
    bi_roles,
    budgets,
    chargeback,
    console,
    credits,
    dagster,
    invoices,
    provider_keys,
    reconcile,
    rules,
    servers,
)

app = typer.Typer(
    name="onevault",
    no_args_is_help=True,
    add_completion=False,
    help="OneVault: an AI gateway whose ledger is a Data Vault 2.0 warehouse.",
)


@app.command()
def up(port: int = typer.Option(None, help="Gateway port (default ONEVAULT_GATEWAY_PORT or 8000).")) -> None:
    """Start PostgreSQL, Redis, the simulator, the gateway and the Dagster UI (foreground; Ctrl-C stops)."""
    from gateway.cli.up import up as run_up  # heavy imports only when serving

    run_up(port)


@app.command()
def serve(
    host: str = typer.Option(None, help="Bind address (default ONEVAULT_GATEWAY_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default ONEVAULT_GATEWAY_PORT, 8000)."),
    workers: int = typer.Option(None, help="Worker processes (default ONEVAULT_WORKERS; use one per core)."),
    loader: bool = typer.Option(True, "--loader/--no-loader", help="Run the vault loader in each worker."),
) -> None:
    """Serve only the gateway (production style: uvloop, httptools, N workers)."""
    from gateway.cli.serve import serve as run_serve

    run_serve(host, port, workers, loader)


@app.command()
def demo(
    month: str = typer.Option(None, help="Month to simulate, YYYY-MM (default: the previous month)."),
    scale: float = typer.Option(1.0, help="Traffic volume relative to the built-in scenario."),
) -> None:
    """Simulate last month's traffic through the gateway, run its billing, print the invoices."""
    from gateway.cli.demo import demo as run_demo  # Dagster imports only when needed

    run_demo(month, scale)


@app.command()
def loader() -> None:
    """Run the vault loader as its own process (drains the event stream into the raw vault)."""
    from gateway.cli.serve import loader as run_loader

    run_loader()


app.command()(servers.migrate)
app.command()(servers.status)
app.command()(servers.down)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(servers.psql)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(servers.dbt)
app.command()(dagster.dagster)
app.add_typer(admin.customers, name="customers")
app.add_typer(admin.keys, name="keys")
app.add_typer(provider_keys.provider_keys, name="provider-keys")
app.add_typer(rules.rules, name="rules")
app.add_typer(budgets.budgets, name="budgets")
app.add_typer(alerts.alerts, name="alerts")
app.add_typer(anomalies.anomalies, name="anomalies")
app.add_typer(chargeback.chargeback, name="chargeback")
app.add_typer(invoices.invoices, name="invoices")
app.add_typer(credits.credits, name="credits")
app.add_typer(bi_roles.bi_role, name="bi-role")
app.add_typer(audit.audit, name="audit")
app.add_typer(reconcile.reconcile, name="reconcile")
app.add_typer(console.console, name="console")


if __name__ == "__main__":
    app()
