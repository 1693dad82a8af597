"""Customers' own provider keys (bring your own key), envelope-encrypted in the vault.

The secret is sealed before it leaves this module; listings show a fingerprint, never the
secret or its ciphertext. Each change (revocation, KEK rotation, validation) is a new satellite
row, so which key was in force when is always answerable.
"""

from __future__ import annotations

import dataclasses
import secrets
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag

from gateway.admin.customers import SOURCE, AdminError, customer_exists
from gateway.control_plane.provider_keys import LATEST as _LATEST
from gateway.crypto import KeyRing, Sealed, fingerprint
from gateway.crypto.envelope import KeyRingError
from gateway.egress import EgressPolicy, EgressRefused
from gateway.providers.base import API_STYLES, ProviderEndpoint, get_adapter
from gateway.providers.http import UpstreamClient
from gateway.providers.types import ChatMessage, ChatRequest, ProviderError
from gateway.routing.catalog import ProviderCatalog
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader

_PUBLIC = (
    "key_id",
    "customer",
    "provider",
    "label",
    "api_style",
    "base_url",
    "fingerprint",
    "kek_id",
    "status",
    "allowed_models",
    "budget_daily",
    "budget_monthly",
    "last_validated_at",
    "validation_status",
    "load_dts",
    "changed_by",
)


def _row_values(row: dict[str, Any], *, changed_by: str, sealed: Sealed, status: str) -> tuple:
    return t.SAT_PROVIDER_KEY_DETAILS.row(
        changed_by=changed_by,
        label=row["label"],
        api_style=row["api_style"],
        base_url=row["base_url"],
        ciphertext=sealed.ciphertext,
        nonce=sealed.nonce,
        wrapped_dek=sealed.wrapped_dek,
        kek_id=sealed.kek_id,
        fingerprint=row["fingerprint"],
        status=status,
        allowed_models=row["allowed_models"],
        budget_daily=row.get("budget_daily"),
        budget_monthly=row.get("budget_monthly"),
        last_validated_at=row.get("last_validated_at"),
        validation_status=row.get("validation_status"),
    )


async def _write(pool: asyncpg.Pool, row: dict[str, Any], values: tuple) -> None:
    batch = VaultBatch()
    pk = batch.hub(t.HUB_PROVIDER_KEY, row["key_id"], record_source=SOURCE)
    customer = batch.hub(t.HUB_CUSTOMER, row["customer"], record_source=SOURCE)
    provider = batch.hub(t.HUB_PROVIDER, row["provider"], record_source=SOURCE)
    batch.link(
        t.LNK_PROVIDER_KEY_CUSTOMER,
        (pk, customer, provider),
        (row["key_id"], row["customer"], row["provider"]),
        record_source=SOURCE,
    )
    batch.sat(t.SAT_PROVIDER_KEY_DETAILS, pk, values, record_source=SOURCE)
    await VaultLoader(pool).load(batch)


async def add_provider_key(
    pool: asyncpg.Pool,
    keyring: KeyRing,
    customer: str,
    provider: str,
    secret: str,
    *,
    api_style: str,
    changed_by: str,
    base_url: str | None = None,
    label: str | None = None,
    allowed_models: tuple[str, ...] | None = None,
    budget_daily: Decimal | None = None,
    budget_monthly: Decimal | None = None,
    egress: EgressPolicy | None = None,
) -> dict[str, Any]:
    """Seal and record a customer's key. A ``base_url`` is tenant input: it must resolve to public
    addresses unless ``egress`` (the operator's ``ONEVAULT_EGRESS_ALLOW``; default none) allows it."""
    if api_style not in API_STYLES:
        raise AdminError(f"api_style must be one of {', '.join(sorted(API_STYLES))}")
    if not secret.strip():
        raise AdminError("the provider key is empty")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise AdminError("base_url must be an http(s) URL")
    if base_url is not None:
        try:
            await (egress or EgressPolicy()).check_url(base_url, "base_url")
        except EgressRefused as exc:
            raise AdminError(str(exc), field="base_url") from None
    for name, value in (("budget_daily", budget_daily), ("budget_monthly", budget_monthly)):
        if value is not None and value < 0:
            raise AdminError(f"{name} must not be negative")
    if not await customer_exists(pool, customer):
        raise AdminError(f"no customer {customer!r}")
    key_id = "pk_" + secrets.token_hex(6)
    row = {
        "key_id": key_id,
        "customer": customer,
        "provider": provider,
        "label": label,
        "api_style": api_style,
        "base_url": base_url,
        "fingerprint": fingerprint(secret.strip()),
        "allowed_models": list(allowed_models) if allowed_models else None,
        "budget_daily": budget_daily,
        "budget_monthly": budget_monthly,
    }
    sealed = keyring.seal(secret.strip(), key_id)
    await _write(pool, row, _row_values(row, changed_by=changed_by, sealed=sealed, status="active"))
    return {k: row.get(k) for k in _PUBLIC if k in row} | {"status": "active", "kek_id": sealed.kek_id}


async def list_provider_keys(pool: asyncpg.Pool, customer: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(_LATEST.format(where="c.customer_bk = $1"), customer)
    return sorted(({k: r[k] for k in _PUBLIC} for r in rows), key=lambda r: r["key_id"])


async def revoke_provider_key(pool: asyncpg.Pool, key_id: str, *, changed_by: str) -> str:
    """Revoke a key; returns its customer (whose cached keys must be dropped)."""
    row = await _latest(pool, key_id)
    if row["status"] == "revoked":
        raise AdminError(f"provider key {key_id} is already revoked")
    sealed = Sealed(row["ciphertext"], row["nonce"], row["wrapped_dek"], row["kek_id"])
    await _write(
        pool, dict(row), _row_values(dict(row), changed_by=changed_by, sealed=sealed, status="revoked")
    )
    return row["customer"]


async def rewrap_provider_keys(pool: asyncpg.Pool, keyring: KeyRing, *, changed_by: str) -> tuple[int, int]:
    """Re-wrap every key not yet under the current KEK (new satellite rows). Returns (re-wrapped,
    unreadable): a key whose KEK is not loaded any more is left as it is. The whole rotation, every
    kind of wrapped secret, is ``gateway.admin.kek_rotation.rotate_kek``."""
    rows = await pool.fetch(_LATEST.format(where="true"))
    moved = unreadable = 0
    for row in rows:
        if row["kek_id"] == keyring.current_id:
            continue
        old = Sealed(row["ciphertext"], row["nonce"], row["wrapped_dek"], row["kek_id"])
        try:
            sealed = keyring.rewrap(old, row["key_id"])
        except (KeyRingError, InvalidTag):
            unreadable += 1
            continue
        await _write(
            pool,
            dict(row),
            _row_values(dict(row), changed_by=changed_by, sealed=sealed, status=row["status"]),
        )
        moved += 1
    return moved, unreadable


async def _latest(pool: asyncpg.Pool, key_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(_LATEST.format(where="h.provider_key_bk = $1"), key_id)
    if row is None:
        raise AdminError(f"no provider key {key_id!r}")
    return row


async def validate_provider_key(
    pool: asyncpg.Pool,
    keyring: KeyRing,
    catalog: ProviderCatalog,
    http: UpstreamClient,
    key_id: str,
    *,
    changed_by: str,
) -> dict[str, Any]:
    """A cheap real call (a 1-token completion) with the key; the verdict is a new satellite row.

    ``valid``: the provider answered; ``invalid``: it refused the key (401/403);
    ``error:<class>``: it could not say (unreachable, 5xx, …) — the key may still be good.
    """
    row = await _latest(pool, key_id)
    if row["status"] != "active":
        raise AdminError(f"provider key {key_id} is {row['status']}; only active keys can be validated")
    route = catalog.routes.get(row["provider"])
    base_url = row["base_url"] or (route.endpoint.base_url if route else None)
    if base_url is None:
        raise AdminError(f"provider {row['provider']!r} is not in the catalog and the key names no base_url")
    models = list(row["allowed_models"] or []) or [m for m in (route.models if route else ()) if m != "*"]
    if not models:
        raise AdminError("no model to validate with: give the key allowed_models")
    sealed = Sealed(row["ciphertext"], row["nonce"], row["wrapped_dek"], row["kek_id"])
    template = route.endpoint if route else None
    own_url = row["base_url"] is not None  # the customer's URL: the guarded client calls it
    endpoint = (
        dataclasses.replace(
            template, api_key=keyring.open(sealed, key_id), base_url=base_url, customer_url=own_url
        )
        if template is not None and template.api_style == row["api_style"]
        else ProviderEndpoint(
            row["api_style"], base_url, keyring.open(sealed, key_id), timeout_s=15.0, customer_url=own_url
        )
    )
    request = ChatRequest(models[0], [ChatMessage("user", "ping")], max_tokens=1)
    detail: str | None = None
    try:
        await get_adapter(row["api_style"]).complete(http, endpoint, request)
        status = "valid"
    except ProviderError as err:
        status = "invalid" if err.error_class == "auth" else f"error:{err.error_class}"
        detail = str(err)[:300]
    validated_at = datetime.now(timezone.utc)
    updated = dict(row) | {"last_validated_at": validated_at, "validation_status": status}
    await _write(
        pool, updated, _row_values(updated, changed_by=changed_by, sealed=sealed, status=row["status"])
    )
    return {
        "key_id": key_id,
        "customer": row["customer"],
        "provider": row["provider"],
        "model": models[0],
        "validation_status": status,
        "last_validated_at": validated_at,
        "detail": detail,
    }
