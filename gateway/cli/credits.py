"""``onevault credits grant|void|show``: prepaid credit grants from the terminal (recorded in
the admin audit trail like every admin change; docs/billing/credits.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import typer

from gateway.admin.audit import audited
from gateway.admin.credits import DEFAULT_PRIORITY, balances, fixed, grant_credit, void_grant, wallet
from gateway.admin.customers import AdminError, current_config
from gateway.cli.admin import admin_call, fail
from gateway.cli.runtime import operator, with_pool, with_pool_and_redis
from gateway.enforcement.credits import forget

credits = typer.Typer(help="Prepaid credit grants: grant, void, show balances.", no_args_is_help=True)


def _date(text: str | None) -> datetime | None:
    """``YYYY-MM-DD`` (midnight UTC: the grant is usable until that day starts) or ISO 8601."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail(AdminError("--expires is a date YYYY-MM-DD or an ISO 8601 time")) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@credits.command("grant")
def credits_grant(
    customer: str = typer.Argument(..., help="The customer the credit is for."),
    amount: Decimal = typer.Argument(..., help="Amount, e.g. 100.00."),
    currency: str = typer.Option(None, help="ISO 4217 currency (default: the customer's)."),
    expires: str = typer.Option(None, help="Usable until this date (YYYY-MM-DD, UTC) or time."),
    priority: int = typer.Option(
        DEFAULT_PRIORITY, help="Lower applies first (0-1000), then earliest expiry."
    ),
    scope: str = typer.Option(None, help="provider:<p> | model:<m> | tag:<k>=<v> (default: all usage)."),
    description: str = typer.Option(None, help="What the invoice's credit line says."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Grant credit to a customer (prepaid: spendable at once; postpaid: applied on invoices)."""
    expires_at = _date(expires)

    async def apply(pool: asyncpg.Pool, redis: aioredis.Redis) -> dict[str, Any]:
        call = replace(admin_call("credits.grant", customer, customer), detail=f"amount {amount}")
        made = await audited(
            pool,
            call,
            lambda: grant_credit(
                pool,
                customer,
                amount,
                changed_by=operator(),
                currency=currency,
                expires_at=expires_at,
                priority=priority,
                scope=scope,
                description=description,
                record_source="cli",
            ),
        )
        await forget(redis, customer)
        return made

    try:
        made = with_pool_and_redis(apply)
    except AdminError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(_plain(made)))
    else:
        typer.echo(f"granted {fixed(made['amount'])} {made['currency']} to {customer}: {made['grant_id']}")


@credits.command("void")
def credits_void(
    grant_id: str = typer.Argument(..., help="The grant (cg_...)."),
    reason: str = typer.Option(None, help="Why (recorded with the void)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Void a grant: a new history row; it pays nothing more (finalised invoices keep it)."""

    async def apply(pool: asyncpg.Pool, redis: aioredis.Redis) -> dict[str, Any]:
        done = await audited(
            pool,
            admin_call("credits.void", grant_id),
            lambda: void_grant(pool, grant_id, changed_by=operator(), reason=reason, record_source="cli"),
        )
        await forget(redis, done["customer"])
        return done

    try:
        done = with_pool_and_redis(apply)
    except AdminError as exc:
        raise fail(exc) from exc
    typer.echo(json.dumps(_plain(done)) if as_json else f"voided {grant_id}")


@credits.command("show")
def credits_show(
    customer: str = typer.Argument(..., help="The customer."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Each grant with what it has used and has left, and the balance spendable now (live)."""

    async def read(pool: asyncpg.Pool) -> dict[str, Any]:
        config = await current_config(pool, customer)
        grants = await balances(pool, customer)
        return {
            "customer": customer,
            "billing_mode": config.billing_mode or "postpaid",
            "currency": config.currency,
            "balance": fixed(wallet(grants, config.currency)),
            "grants": [g.to_json() for g in grants],
        }

    try:
        data = with_pool(read)
    except AdminError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(data))
        return
    typer.echo(f"{customer} ({data['billing_mode']}): balance {data['balance']} {data['currency']}")
    header = f"{'grant':<16} {'status':<10} {'amount':>12} {'used':>16} {'remaining':>16} {'prio':>4}"
    header += "  expires / scope"
    typer.echo(header)
    for g in data["grants"]:
        expires = (g["expires_at"] or "never")[:10]
        typer.echo(
            f"{g['grant_id']:<16} {g['status']:<10} {g['amount']:>12} {_money(g['used']):>16} "
            f"{_money(g['remaining']):>16} {g['priority']:>4}  {expires} / {g['scope']}"
        )


def _money(text: str) -> str:
    """Money for a table: whole cents unless a fraction of a cent is there (fixed-point)."""
    value = Decimal(text)
    return fixed(
        value.quantize(Decimal("0.01")) if value == value.quantize(Decimal("0.01")) else value.normalize()
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        return fixed(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
