"""``onevault anomalies list <customer> [--since]``: the customer's spend anomalies.

Read from ``marts.spend_anomalies`` (docs/billing/anomalies.md) for that one customer only — the
flags are as fresh as the last dbt run (``onevault dbt build`` or the Dagster schedule).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import typer

from gateway.cli.admin import echo_result
from gateway.cli.runtime import with_pool
from warehouse.anomalies import Anomaly, list_anomalies

anomalies = typer.Typer(no_args_is_help=True, help="Spend anomalies: spikes and drops per hour.")


def parse_since(value: str | None) -> datetime | None:
    """A date (midnight UTC) or an ISO timestamp (UTC when it has no zone)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if "T" in value or " " in value else None
        if parsed is None:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
    except ValueError as exc:
        raise typer.BadParameter("use a date (2026-10-29) or an ISO time", param_hint="--since") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def line(a: Anomaly) -> str:
    metric = " ".join(
        part
        for part in (
            f"requests {a.requests} vs median {a.requests_median} ({a.requests_flag})"
            if a.requests_flag
            else "",
            f"spend {a.customer_cost:.2f} vs median {a.spend_median:.2f} ({a.spend_flag})"
            if a.spend_flag
            else "",
        )
        if part
    )
    return (
        f"{a.hour_start:%Y-%m-%d %H:00}Z  {a.anomaly:<5}  {a.gateway_key_id or '-'}  "
        f"{a.provider or '-'}/{a.model or '-'}  {metric}"
    )


@anomalies.command("list")
def anomalies_list(
    customer: str = typer.Argument(..., help="Customer slug."),
    since: str = typer.Option(None, help="Only hours from this date or time on (UTC)."),
    limit: int = typer.Option(200, help="At most this many, newest hour first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The customer's flagged hours (spikes and drops of spend or requests), newest first."""
    start = parse_since(since)
    found = with_pool(lambda pool: list_anomalies(pool, customer, start, limit))
    echo_result(
        [a.as_json() for a in found],
        as_json,
        "\n".join(line(a) for a in found) or f"{customer}: no anomalies flagged",
    )
