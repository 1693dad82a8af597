"""``onevault customers ...`` and ``onevault keys ...`` (the full admin plane grows here)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
import redis.asyncio as aioredis
import typer

from gateway.admin.audit import AdminAction, audited, record_admin_action
from gateway.admin.customers import (
    SERVICES,
    AdminError,
    CustomerConfig,
    create_customer,
    current_config,
    customer_exists,
    update_customer,
)
from gateway.admin.keys import IssuedKey, create_gateway_key, key_hashes, list_keys, revoke_key, rotate_key
from gateway.auth.principal import Limits, forget
from gateway.cli.runtime import operator, settings, with_pool, with_pool_and_redis
from gateway.egress.config import egress_policy
from gateway.privacy.erasure import Erasure, erase_payloads

T = TypeVar("T")

customers = typer.Typer(help="Manage customers (tenants).", no_args_is_help=True)
keys = typer.Typer(help="Manage a customer's OneVault API keys.", no_args_is_help=True)


def admin_call(action: str, target: str | None = None, customer: str | None = None) -> AdminAction:
    """An admin call from this terminal, as the audit trail records it."""
    return AdminAction(operator(), action, target, customer=customer, record_source="cli")


def run_audited(call: AdminAction, change: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Run one admin change from this terminal, recorded; a refusal exits with its reason."""
    try:
        return with_pool(lambda pool: audited(pool, call, lambda: change(pool)))
    except AdminError as exc:
        raise fail(exc) from exc


def fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


_TIER = (
    "basic | standard | premium | enterprise: the tier's base fee, default limits and included "
    "services (docs/billing/plans.md)."
)
_SAVINGS_SHARE = "Bill this %% of the month's attributed savings as its own invoice line (0 = none)."
_MARKUP_PLAN = (
    "Graduated markup plan of seeds/markup_plans.csv (e.g. volume) instead of a flat markup; "
    "'none' leaves it."
)
_SERVICES = "Comma-separated value-added services billed monthly: " + ", ".join(SERVICES) + " ('' = none)."
_WEBHOOK = "Budget alerts (50/80/100 %%) are POSTed here, signed; get the secret: onevault alerts secret."


def _services(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(s.strip() for s in text.split(",") if s.strip())


def _given(**settings: Any) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if v is not None}


@customers.command("create")
def customers_create(
    slug: str = typer.Argument(..., help="Customer id: lower-case letters, digits and '-'."),
    name: str = typer.Option(None, help="Display name."),
    markup: Decimal = typer.Option(None, help="Markup %% on provider cost (default from settings)."),
    tier: str = typer.Option(None, help=_TIER),
    services: str = typer.Option(None, help=_SERVICES),
    tax_rate: Decimal = typer.Option(None, help="Tax rate %% applied to invoices."),
    currency: str = typer.Option(None, help="ISO 4217 invoice currency (default USD)."),
    webhook_url: str = typer.Option(None, help=_WEBHOOK),
    savings_share: Decimal = typer.Option(None, help=_SAVINGS_SHARE),
    markup_plan: str = typer.Option(None, help=_MARKUP_PLAN),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a customer."""
    config = CustomerConfig(
        **_given(
            display_name=name,
            markup_pct=markup,
            tier=tier,
            subscribed_services=_services(services),
            tax_rate_pct=tax_rate,
            currency=currency,
            budget_webhook_url=webhook_url,
            savings_share_pct=savings_share,
            markup_plan=markup_plan,
        )
    )
    run_audited(
        admin_call("customers.create", slug, slug),
        lambda pool: create_customer(
            pool, slug, config, changed_by=operator(), egress=egress_policy(settings())
        ),
    )
    typer.echo(json.dumps({"customer": slug, "created": True}) if as_json else f"created customer {slug}")


@keys.command("create")
def keys_create(
    customer: str = typer.Argument(..., help="The customer the key belongs to."),
    label: str = typer.Option(None, help="A label to recognise the key by."),
    models: str = typer.Option(None, help="Comma-separated models this key may use (default: all)."),
    expires_in_days: float = typer.Option(None, help="The key stops working after this many days."),
    rpm: int = typer.Option(None, help="Requests per minute for this key."),
    tpm: int = typer.Option(None, help="Tokens per minute for this key."),
    budget_daily: Decimal = typer.Option(None, help="Daily budget for this key."),
    budget_monthly: Decimal = typer.Option(None, help="Monthly budget for this key."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON with a 'key' field."),
) -> None:
    """Create an API key; it is printed once and never stored in clear."""
    limits = Limits(rpm, tpm, budget_daily, budget_monthly)
    expires = datetime.now(timezone.utc) + timedelta(days=expires_in_days) if expires_in_days else None
    allowed = tuple(m.strip() for m in models.split(",") if m.strip()) if models else None
    issued = run_audited(
        admin_call("keys.create", customer, customer),
        lambda pool: create_gateway_key(
            pool,
            customer,
            changed_by=operator(),
            label=label,
            limits=limits,
            expires_at=expires,
            allowed_models=allowed,
        ),
    )
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


def echo_result(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, default=str, indent=2) if as_json else text)


@customers.command("show")
def customers_show(
    slug: str = typer.Argument(..., help="The customer."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a customer's configuration in force now."""
    try:
        config = with_pool(lambda pool: current_config(pool, slug))
    except AdminError as exc:
        raise fail(exc) from exc
    data = {"customer": slug, **asdict(config)}
    echo_result(data, as_json, "\n".join(f"{k:<22} {v}" for k, v in data.items()))


@customers.command("update")
def customers_update(
    slug: str = typer.Argument(..., help="The customer."),
    name: str = typer.Option(None, help="Display name."),
    status: str = typer.Option(None, help="active | suspended (suspended: every key is refused)."),
    markup: Decimal = typer.Option(None, help="Markup %% on provider cost."),
    rpm: int = typer.Option(
        None, help="Requests per minute, all keys together (default: the tier's; 0 = refuse all)."
    ),
    tpm: int = typer.Option(None, help="Tokens per minute, all keys together."),
    budget_daily: Decimal = typer.Option(None, help="Daily budget in the customer's currency."),
    budget_monthly: Decimal = typer.Option(None, help="Monthly budget."),
    compliance: str = typer.Option(
        None, help="none | hipaa | gdpr | sox (hipaa: HIPAA-eligible providers only)."
    ),
    retention: str = typer.Option(None, help="Prompts/completions kept: none | hash | encrypted."),
    pii_mode: str = typer.Option(None, help="Personal data in prompts: off | flag | redact | block."),
    cache_mode: str = typer.Option(None, help="Default response cache: off | exact | semantic."),
    cache_ttl: int = typer.Option(None, help="Seconds a cached answer may be served."),
    cache_similarity: Decimal = typer.Option(None, help="Semantic cache: least cosine similarity (0.92)."),
    cache_price_request: Decimal = typer.Option(None, help="Charge per cache hit."),
    cache_price_1k: Decimal = typer.Option(None, help="Charge per 1,000 tokens served from cache."),
    embedding_model: str = typer.Option(None, help="[provider/]model for the semantic cache."),
    drop_unsupported_params: bool = typer.Option(
        None,
        "--drop-unsupported-params/--refuse-unsupported-params",
        help="Options a provider cannot honour: dropped and recorded, or refused with 400 (default).",
    ),
    max_concurrent: int = typer.Option(
        None, help="Requests in flight at once, all keys together (0 = no limit; default: the gateway's)."
    ),
    max_concurrent_per_key: int = typer.Option(
        None, help="Requests in flight at once per key (0 = no limit; default: the gateway's)."
    ),
    tier: str = typer.Option(None, help=_TIER),
    services: str = typer.Option(None, help=_SERVICES),
    tax_rate: Decimal = typer.Option(None, help="Tax rate %% applied to invoices."),
    currency: str = typer.Option(None, help="ISO 4217 invoice currency."),
    webhook_url: str = typer.Option(None, help=_WEBHOOK),
    billing_mode: str = typer.Option(
        None, help="prepaid (refused past its credit: onevault credits) | postpaid (default)."
    ),
    low_balance_threshold: Decimal = typer.Option(
        None, help="Prepaid: one credit.low_balance webhook when the balance falls under this."
    ),
    rph: int = typer.Option(
        None, help="Requests per hour, all keys together (default: the tier's; 0 = refuse all)."
    ),
    monthly_token_quota: int = typer.Option(
        None, help="Tokens per UTC month; past it 429 quota_exceeded until the 1st (default: the tier's)."
    ),
    savings_share: Decimal = typer.Option(None, help=_SAVINGS_SHARE),
    markup_plan: str = typer.Option(None, help=_MARKUP_PLAN),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Change a customer's settings (a new history row; takes effect within seconds)."""
    changes = {
        k: v
        for k, v in {
            "tier": tier,
            "subscribed_services": _services(services),
            "tax_rate_pct": tax_rate,
            "currency": currency,
            "budget_webhook_url": webhook_url,
            "display_name": name,
            "status": status,
            "markup_pct": markup,
            "rate_limit_rpm": rpm,
            "rate_limit_tpm": tpm,
            "budget_daily": budget_daily,
            "budget_monthly": budget_monthly,
            "compliance_level": compliance,
            "retention_mode": retention,
            "pii_mode": pii_mode,
            "cache_mode": cache_mode,
            "cache_ttl_s": cache_ttl,
            "cache_similarity": cache_similarity,
            "cache_price_per_request": cache_price_request,
            "cache_price_per_1k_tokens": cache_price_1k,
            "embedding_model": embedding_model,
            "drop_unsupported_params": drop_unsupported_params,
            "max_concurrent": max_concurrent,
            "max_concurrent_per_key": max_concurrent_per_key,
            "billing_mode": billing_mode,
            "low_balance_threshold": low_balance_threshold,
            "rate_limit_rph": rph,
            "monthly_token_quota": monthly_token_quota,
            "savings_share_pct": savings_share,
            "markup_plan": markup_plan,
        }.items()
        if v is not None
    }
    if not changes:
        raise fail(AdminError("nothing to change; see --help for the settings"))

    async def apply(pool: asyncpg.Pool, redis: aioredis.Redis) -> CustomerConfig:
        call = replace(admin_call("customers.update", slug, slug), detail=", ".join(sorted(changes)))
        config = await audited(
            pool,
            call,
            lambda: update_customer(
                pool, slug, changes, changed_by=operator(), egress=egress_policy(settings())
            ),
        )
        await forget(redis, [bytes(k["key_hash"]) for k in await key_hashes(pool, slug)])
        return config

    try:
        config = with_pool_and_redis(apply)
    except AdminError as exc:
        raise fail(exc) from exc
    echo_result({"customer": slug, **asdict(config)}, as_json, f"updated customer {slug}")


@customers.command("erase-payloads")
def customers_erase_payloads(
    slug: str = typer.Argument(..., help="The customer."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Destroy the customer's data key: every stored prompt and completion becomes unreadable
    (crypto-shredding); costs and invoices are unchanged. Recorded in the vault."""

    async def apply(pool: asyncpg.Pool, redis: aioredis.Redis) -> Erasure:
        call = admin_call("customers.erase_payloads", slug, slug)

        async def refuse() -> None:
            raise AdminError(f"no customer {slug!r}")

        if not await customer_exists(pool, slug):
            await audited(pool, call, refuse)  # recorded as refused, then raised
        done = await erase_payloads(pool, redis, slug)
        await record_admin_action(pool, replace(call, detail=done.describe()))  # what was destroyed
        return done

    try:
        done = with_pool_and_redis(apply)
    except AdminError as exc:
        raise fail(exc) from exc
    echo_result(asdict(done), as_json, f"{slug}: {done.describe()}")


@keys.command("list")
def keys_list(
    customer: str = typer.Argument(..., help="The customer."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a customer's keys: prefix, label, status, last use (never the secret)."""
    rows = with_pool(lambda pool: list_keys(pool, customer))
    text = "\n".join(
        f"{r['key_id']}  {r['key_prefix']:<18} {r['status']:<8} "
        f"last used {r['last_used_at'].isoformat(timespec='seconds') if r['last_used_at'] else 'never':<25} "
        f"{r['label'] or ''}"
        for r in rows
    )
    echo_result(rows, as_json, text or f"{customer} has no keys")


@keys.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key id (the part after 'ov_' and before the secret)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Revoke a key: refused by every gateway process within seconds."""

    async def apply(pool: asyncpg.Pool, redis: aioredis.Redis) -> None:
        revoked = await audited(
            pool, admin_call("keys.revoke", key_id), lambda: revoke_key(pool, key_id, changed_by=operator())
        )
        await forget(redis, [revoked])

    try:
        with_pool_and_redis(apply)
    except AdminError as exc:
        raise fail(exc) from exc
    echo_result({"key_id": key_id, "status": "revoked"}, as_json, f"revoked {key_id}")


@keys.command("rotate")
def keys_rotate(
    key_id: str = typer.Argument(..., help="The key id to replace."),
    grace_hours: float = typer.Option(24.0, help="How long the old key keeps working."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON with the new 'key'."),
) -> None:
    """Issue a successor key (printed once); the old one works until the grace period ends."""

    async def apply(pool: asyncpg.Pool, redis: aioredis.Redis) -> IssuedKey:
        issued, old = await audited(
            pool,
            admin_call("keys.rotate", key_id),
            lambda: rotate_key(pool, key_id, changed_by=operator(), grace=timedelta(hours=grace_hours)),
        )
        await forget(redis, [old])
        return issued

    try:
        issued = with_pool_and_redis(apply)
    except AdminError as exc:
        raise fail(exc) from exc
    data = {"replaces": key_id, "key_id": issued.key_id, "key_prefix": issued.key_prefix, "key": issued.key}
    echo_result(data, as_json, issued.key)
