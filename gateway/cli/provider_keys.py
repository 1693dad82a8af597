"""``onevault provider-keys ...``: customers' own provider keys (sealed at rest)."""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from typing import Any

import asyncpg
import typer

from gateway.admin.kek_rotation import rotate_kek
from gateway.admin.provider_keys import (
    add_provider_key,
    list_provider_keys,
    revoke_provider_key,
    validate_provider_key,
)
from gateway.cli.admin import admin_call, echo_result, fail, run_audited
from gateway.cli.runtime import operator, settings, with_pool
from gateway.crypto.keyring import keyring_from
from gateway.egress.config import egress_policy
from gateway.providers.http import create_http_client
from gateway.routing.catalog import CatalogError, ProviderCatalog

provider_keys = typer.Typer(help="Customers' own provider keys (encrypted at rest).", no_args_is_help=True)


@provider_keys.command("add")
def provider_keys_add(
    customer: str = typer.Argument(..., help="The customer the key belongs to."),
    provider: str = typer.Argument(..., help="Provider name as in the provider catalog, e.g. openai."),
    api_style: str = typer.Option(
        ..., help="Wire format: openai, anthropic, gemini, azure_openai, cohere, ..."
    ),
    secret_env: str = typer.Option(
        None, help="Read the secret from this environment variable (default: from standard input)."
    ),
    base_url: str = typer.Option(None, help="Override the provider's base URL for this key."),
    label: str = typer.Option(None, help="A label to recognise the key by."),
    models: str = typer.Option(None, help="Comma-separated models this key may be used for."),
    budget_daily: Decimal = typer.Option(None, help="Daily spend limit on this key (provider cost, USD)."),
    budget_monthly: Decimal = typer.Option(None, help="Monthly spend limit on this key (provider cost)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Add a provider key; the secret is read from stdin (never the command line) and sealed."""
    secret = os.environ.get(secret_env, "") if secret_env else sys.stdin.read()
    keyring = keyring_from(settings())
    allowed = tuple(m.strip() for m in models.split(",") if m.strip()) if models else None
    added = run_audited(
        admin_call("provider_keys.add", customer, customer),
        lambda pool: add_provider_key(
            pool,
            keyring,
            customer,
            provider,
            secret,
            api_style=api_style,
            changed_by=operator(),
            base_url=base_url,
            label=label,
            allowed_models=allowed,
            budget_daily=budget_daily,
            budget_monthly=budget_monthly,
            egress=egress_policy(settings()),
        ),
    )
    echo_result(added, as_json, f"added {added['key_id']} ({added['fingerprint']}) for {customer}/{provider}")


@provider_keys.command("list")
def provider_keys_list(
    customer: str = typer.Argument(..., help="The customer."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a customer's provider keys: fingerprint and status, never the secret."""
    rows = with_pool(lambda pool: list_provider_keys(pool, customer))
    text = "\n".join(f"{r['key_id']}  {r['provider']:<14} {r['fingerprint']}  {r['status']}" for r in rows)
    echo_result(rows, as_json, text or f"{customer} has no provider keys")


@provider_keys.command("revoke")
def provider_keys_revoke(
    key_id: str = typer.Argument(..., help="The provider key id (pk_...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Revoke a provider key (gateways stop using it within seconds)."""
    run_audited(
        admin_call("provider_keys.revoke", key_id),
        lambda pool: revoke_provider_key(pool, key_id, changed_by=operator()),
    )
    echo_result({"key_id": key_id, "status": "revoked"}, as_json, f"revoked {key_id}")


@provider_keys.command("rotate-kek")
def provider_keys_rotate_kek(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Re-wrap every wrapped secret under the current KEK (first in ONEVAULT_MASTER_KEY): provider
    keys, webhook secrets and customer data keys. Exit 3 if some could not be read (their KEK is
    not loaded): do not remove an old KEK then."""
    keyring = keyring_from(settings())
    done = run_audited(
        admin_call("provider_keys.rotate_kek"), lambda pool: rotate_kek(pool, keyring, changed_by=operator())
    )
    echo_result(
        done,
        as_json,
        f"re-wrapped {done['rewrapped']} secret(s) under {keyring.current_id} "
        f"({done['provider_keys']} provider keys, {done['webhook_secrets']} webhook secrets, "
        f"{done['data_keys']} data keys)"
        + (
            f"; {done['unreadable']} unreadable: keep their KEK in ONEVAULT_MASTER_KEY"
            if done["unreadable"]
            else ""
        ),
    )
    if done["unreadable"]:
        raise typer.Exit(3)


@provider_keys.command("validate")
def provider_keys_validate(
    key_id: str = typer.Argument(..., help="The provider key id (pk_...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check a key with a cheap real call (a 1-token completion); the result is recorded."""
    s = settings()
    keyring = keyring_from(s)
    try:
        catalog = ProviderCatalog.from_file(s.catalog_path)
    except CatalogError as exc:
        raise fail(exc) from exc

    async def check(pool: asyncpg.Pool) -> dict[str, Any]:
        http = create_http_client(customer_egress=egress_policy(s))
        try:
            return await validate_provider_key(pool, keyring, catalog, http, key_id, changed_by=operator())
        finally:
            await http.aclose()

    result = run_audited(admin_call("provider_keys.validate", key_id), check)
    echo_result(
        result,
        as_json,
        f"{key_id}: {result['validation_status']} ({result['provider']}/{result['model']})"
        + (f" — {result['detail']}" if result["detail"] else ""),
    )
    if result["validation_status"] != "valid":
        raise typer.Exit(3)
