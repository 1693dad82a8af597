"""``onevault customers ...`` and ``onevault keys ...`` (the full admin plane grows here)."""

from __future__ import annotations

import json
from decimal import Decimal

import typer

from gateway.admin.customers import AdminError, CustomerConfig, create_customer
from gateway.admin.keys import create_gateway_key
from gateway.cli.runtime import operator, with_pool

customers = typer.Typer(help="Manage customers (tenants).", no_args_is_help=True)
keys = typer.Typer(help="Manage a customer's OneVault API keys.", no_args_is_help=True)


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@customers.command("create")
def customers_create(
    slug: str = typer.Argument(..., help="Customer id: lower-case letters, digits and '-'."),
    name: str = typer.Option(None, help="Display name."),
    markup: Decimal = typer.Option(None, help="Markup %% on provider cost (default from settings)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a customer."""
    try:
        with_pool(
            lambda pool: create_customer(
                pool, slug, CustomerConfig(display_name=name, markup_pct=markup), changed_by=operator()
            )
        )
    except AdminError as exc:
        raise _fail(exc) from exc
    typer.echo(json.dumps({"customer": slug, "created": True}) if as_json else f"created customer {slug}")


@keys.command("create")
def keys_create(
    customer: str = typer.Argument(..., help="The customer the key belongs to."),
    label: str = typer.Option(None, help="A label to recognise the key by."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON with a 'key' field."),
) -> None:
    """Create an API key; it is printed once and never stored in clear."""
    try:
        issued = with_pool(
            lambda pool: create_gateway_key(pool, customer, changed_by=operator(), label=label)
        )
    except AdminError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "customer": issued.customer,
                    "key_id": issued.key_id,
                    "key_prefix": issued.key_prefix,
                    "key": issued.key,
                }
            )
        )
    else:
        typer.echo(issued.key)
        typer.secho("Store this key now: it cannot be shown again.", fg=typer.colors.YELLOW, err=True)
