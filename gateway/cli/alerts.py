"""``onevault alerts ...``: budget-alert webhook secrets and the delivery log."""

from __future__ import annotations

import typer

from gateway.alerts.webhook_secrets import create_webhook_secret
from gateway.cli.admin import admin_call, echo_result, run_audited
from gateway.cli.runtime import operator, settings, with_pool
from gateway.crypto.keyring import keyring_from
from warehouse.hashing import hash_key

alerts = typer.Typer(help="Budget alerts: webhook signing secrets, deliveries.", no_args_is_help=True)

_DELIVERIES = """
select h.budget_alert_bk as alert_id, s.attempt_no, s.attempted_ts, s.threshold_pct, s.http_status,
       s.outcome, s.error
from raw_vault.sat_budget_alert_delivery s
join raw_vault.hub_budget_alert h using (budget_alert_hk)
join raw_vault.lnk_budget_alert_customer l using (budget_alert_hk)
where l.customer_hk = $1
order by s.attempted_ts desc limit $2
"""


@alerts.command("secret")
def alerts_secret(
    customer: str = typer.Argument(..., help="The customer."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Generate a new webhook signing secret (printed once; replaces the previous one)."""
    keyring = keyring_from(settings())
    made = run_audited(
        admin_call("customers.webhook_secret", customer, customer),
        lambda pool: create_webhook_secret(pool, keyring, customer, changed_by=operator()),
    )
    echo_result(made, as_json, made["webhook_secret"])
    if not as_json:
        typer.secho("Store this secret now: it cannot be shown again.", fg=typer.colors.YELLOW, err=True)


@alerts.command("list")
def alerts_list(
    customer: str = typer.Argument(..., help="The customer."),
    limit: int = typer.Option(50, help="How many delivery attempts, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delivery attempts of the customer's budget alerts, newest first."""
    rows = with_pool(lambda pool: pool.fetch(_DELIVERIES, hash_key(customer), limit))
    data = [dict(r) for r in rows]
    text = "\n".join(
        f"{r['attempted_ts']:%Y-%m-%d %H:%M:%S}  {r['alert_id']}  #{r['attempt_no']}  {r['outcome']}"
        f"  {r['http_status'] or ''} {r['error'] or ''}"
        for r in data
    )
    echo_result(data, as_json, text or f"{customer} has no alert deliveries")
