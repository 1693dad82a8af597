"""``/admin/v1``: the control plane over HTTP, for operators and automation (not for customers).

Authenticated by the admin token (``ONEVAULT_ADMIN_TOKEN``; generated into
``ONEVAULT_HOME/secrets/admin-token`` on the embedded default); a OneVault customer key is never
accepted here. Every call — refused ones included — is recorded in the vault
(``sat_admin_action_details``): who, what, on which target, from where, with what outcome.
An ``x-onevault-actor`` header names the person or system behind the token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from starlette.responses import JSONResponse

from gateway.admin.audit import AdminAction, audited, record_admin_action, refused_status
from gateway.admin.customers import (
    AdminError,
    CustomerConfig,
    create_customer,
    current_config,
    customer_exists,
    update_customer,
)
from gateway.admin.keys import create_gateway_key, key_hashes, list_keys, revoke_key, rotate_key
from gateway.admin.provider_keys import (
    add_provider_key,
    list_provider_keys,
    revoke_provider_key,
    rotate_kek,
    validate_provider_key,
)
from gateway.admin.rule_test import explain_routing
from gateway.admin.rules import create_rule, disable_rule, update_rule
from gateway.alerts.webhook_secrets import create_webhook_secret, has_webhook_secret
from gateway.auth.principal import Limits, forget
from gateway.errors import ApiError
from gateway.routing.rules import customer_rules

router = APIRouter(prefix="/admin/v1", tags=["admin"])
T = TypeVar("T")


def _no_control_characters(value: Any, where: str = "body") -> None:
    if isinstance(value, str):
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError(f"{where}: control characters are not accepted")
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_control_characters(k, where)
            _no_control_characters(v, f"{where}.{k}")
    elif isinstance(value, list):
        for v in value:
            _no_control_characters(v, where)


class AdminBody(BaseModel):
    """Admin bodies: unknown fields refused, and no control characters anywhere — every string
    lands in the vault (PostgreSQL text cannot hold NUL) or in an operator's terminal."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _printable(cls, data: Any) -> Any:
        _no_control_characters(data)
        return data


# Bounds follow the vault's column types, so a value that passes here can always be recorded.
_Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
_Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
_Text = Annotated[str, Field(min_length=1, max_length=200)]


class CustomerBody(AdminBody):
    display_name: _Text | None = None
    tier: Literal["basic", "standard", "premium", "enterprise"] | None = None
    status: Literal["active", "suspended"] | None = None
    markup_pct: Decimal | None = Field(None, ge=0, le=1000, decimal_places=4)
    budget_daily: _Money | None = None
    budget_monthly: _Money | None = None
    rate_limit_rpm: _Count | None = None
    rate_limit_tpm: _Count | None = None
    compliance_level: Literal["none", "hipaa", "gdpr", "sox"] | None = None
    retention_mode: Literal["none", "hash", "encrypted"] | None = None
    subscribed_services: (
        list[Literal["analytics", "smart_routing", "compliance_reporting", "priority_support"]] | None
    ) = Field(None, max_length=10)
    tax_rate_pct: Decimal | None = Field(None, ge=0, lt=100, decimal_places=4)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    budget_webhook_url: str | None = Field(None, max_length=2048)
    # caches, PII, embeddings (checked by gateway.admin.customers.check_data_settings)
    cache_mode: str | None = Field(None, max_length=20)
    cache_ttl_s: _Count | None = None
    cache_similarity: Decimal | None = Field(None, gt=0, le=1, decimal_places=4)
    cache_price_per_request: Decimal | None = Field(None, ge=0, max_digits=24, decimal_places=12)
    cache_price_per_1k_tokens: Decimal | None = Field(None, ge=0, max_digits=24, decimal_places=12)
    pii_mode: str | None = Field(None, max_length=20)
    embedding_model: str | None = Field(None, max_length=200)


class NewCustomer(CustomerBody):
    slug: str


class NewKey(AdminBody):
    label: _Text | None = None
    allowed_models: list[_Text] | None = Field(None, max_length=500)
    expires_at: AwareDatetime | None = None
    rate_limit_rpm: _Count | None = None
    rate_limit_tpm: _Count | None = None
    budget_daily: _Money | None = None
    budget_monthly: _Money | None = None


class Rotation(AdminBody):
    grace_hours: float = Field(24.0, ge=0, le=24 * 90, allow_inf_nan=False)


class NewProviderKey(AdminBody):
    provider: _Text
    api_style: _Text
    secret: str = Field(repr=False, min_length=1, max_length=4096)
    base_url: str | None = Field(None, max_length=2048)
    label: _Text | None = None
    allowed_models: list[_Text] | None = Field(None, max_length=500)
    budget_daily: _Money | None = None
    budget_monthly: _Money | None = None


class RuleChanges(AdminBody):
    """A rule's fields; on PATCH only those given change (the rest stay as in force)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    priority: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    conditions: dict[str, Any] | None = None
    strategy: str | None = None
    target: str | None = None
    fallback: list[str] | None = None
    options: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None
    active: bool | None = None


class NewRule(RuleChanges):
    name: str = Field(min_length=1, max_length=200)
    priority: int = Field(100, ge=-1_000_000, le=1_000_000)


def _json(value: Any) -> Any:
    """JSON-safe without floats: money stays a decimal string, times ISO 8601, bytes hex."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def admin_actor(request: Request) -> str:
    """The caller's identity for the audit trail; 401 (recorded) without the admin token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected: str = request.app.state.admin_token
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        await _record(
            request,
            "unauthenticated",
            f"{request.method} {request.url.path}",
            None,
            None,
            "refused",
            401,
            "missing or wrong admin token",
        )
        raise ApiError(
            401,
            "invalid_admin_token",
            "The admin API needs 'Authorization: Bearer <admin token>'.",
            headers={"www-authenticate": "Bearer"},
        )
    who = request.headers.get("x-onevault-actor", "").strip()[:120]
    return f"admin-token:{who}" if who else "admin-token"


async def _record(
    request: Request,
    actor: str,
    action: str,
    target: str | None,
    customer: str | None,
    outcome: str,
    status: int,
    detail: str | None,
) -> None:
    await record_admin_action(
        request.app.state.pool,
        AdminAction(
            actor,
            action,
            target,
            outcome,
            status,
            detail,
            customer,
            _client_ip(request),
            request.headers.get("user-agent"),
        ),
    )


async def _audited(
    request: Request,
    actor: str,
    action: str,
    target: str | None,
    customer: str | None,
    run: Callable[[], Awaitable[T]],
    *,
    detail: str | None = None,
    status: int = 200,
) -> T:
    call = AdminAction(
        actor,
        action,
        target,
        "ok",
        status,
        detail,
        customer,
        _client_ip(request),
        request.headers.get("user-agent"),
    )
    try:
        return await audited(request.app.state.pool, call, run)
    except AdminError as exc:
        raise ApiError(refused_status(str(exc)), "admin_refused", str(exc)) from exc


def _changes(body: BaseModel) -> dict[str, Any]:
    return {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}


@router.post("/customers", status_code=201)
async def create(body: NewCustomer, request: Request, actor: str = Depends(admin_actor)) -> dict:
    pool = request.app.state.pool
    config = CustomerConfig(**{k: v for k, v in _changes(body).items() if k != "slug"})
    await _audited(
        request,
        actor,
        "customers.create",
        body.slug,
        body.slug,
        lambda: create_customer(pool, body.slug, config, changed_by=actor),
        status=201,
    )
    extra = await _webhook_secret_if_new(request, body.slug, config, actor)
    return _json({"customer": body.slug, **asdict(config), **extra})


@router.get("/customers/{slug}")
async def show(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    config = await _audited(
        request, actor, "customers.show", slug, slug, lambda: current_config(request.app.state.pool, slug)
    )
    return _json({"customer": slug, **asdict(config)})


@router.patch("/customers/{slug}")
async def update(slug: str, body: CustomerBody, request: Request, actor: str = Depends(admin_actor)) -> dict:
    pool, changes = request.app.state.pool, _changes(body)

    async def apply() -> CustomerConfig:
        config = await update_customer(pool, slug, changes, changed_by=actor)
        await forget(request.app.state.redis, [bytes(r["key_hash"]) for r in await key_hashes(pool, slug)])
        return config

    config = await _audited(
        request, actor, "customers.update", slug, slug, apply, detail=", ".join(sorted(changes))
    )
    extra = await _webhook_secret_if_new(request, slug, config, actor)
    return _json({"customer": slug, **asdict(config), **extra})


async def _webhook_secret_if_new(request: Request, slug: str, config: CustomerConfig, actor: str) -> dict:
    """A customer's first webhook URL comes with its signing secret, shown in this answer only."""
    pool = request.app.state.pool
    if not config.budget_webhook_url or await has_webhook_secret(pool, slug):
        return {}
    made = await create_webhook_secret(pool, request.app.state.keyring, slug, changed_by=actor)
    return {"webhook_secret": made["webhook_secret"]}


@router.post("/customers/{slug}/webhook-secret", status_code=201)
async def new_webhook_secret(slug: str, request: Request, actor: str = Depends(admin_actor)) -> JSONResponse:
    """A new signing secret for the customer's budget alerts (shown once; replaces the old)."""
    made = await _audited(
        request,
        actor,
        "customers.webhook_secret",
        slug,
        slug,
        lambda: create_webhook_secret(
            request.app.state.pool, request.app.state.keyring, slug, changed_by=actor
        ),
        status=201,
    )
    return JSONResponse(made, status_code=201)


@router.post("/customers/{slug}/keys", status_code=201)
async def new_key(slug: str, body: NewKey, request: Request, actor: str = Depends(admin_actor)) -> dict:
    limits = Limits(body.rate_limit_rpm, body.rate_limit_tpm, body.budget_daily, body.budget_monthly)
    issued = await _audited(
        request,
        actor,
        "keys.create",
        slug,
        slug,
        lambda: create_gateway_key(
            request.app.state.pool,
            slug,
            changed_by=actor,
            label=body.label,
            limits=limits,
            expires_at=body.expires_at,
            allowed_models=tuple(body.allowed_models) if body.allowed_models else None,
        ),
        status=201,
    )
    return {"customer": slug, "key_id": issued.key_id, "key_prefix": issued.key_prefix, "key": issued.key}


@router.get("/customers/{slug}/keys")
async def keys(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    rows = await _audited(
        request, actor, "keys.list", slug, slug, lambda: list_keys(request.app.state.pool, slug)
    )
    return _json({"object": "list", "data": rows})


@router.post("/keys/{key_id}/revoke")
async def revoke(key_id: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    async def apply() -> None:
        await forget(
            request.app.state.redis, [await revoke_key(request.app.state.pool, key_id, changed_by=actor)]
        )

    await _audited(request, actor, "keys.revoke", key_id, None, apply)
    return {"key_id": key_id, "status": "revoked"}


@router.post("/keys/{key_id}/rotate")
async def rotate(key_id: str, body: Rotation, request: Request, actor: str = Depends(admin_actor)) -> dict:
    async def apply() -> dict:
        issued, old = await rotate_key(
            request.app.state.pool, key_id, changed_by=actor, grace=timedelta(hours=body.grace_hours)
        )
        await forget(request.app.state.redis, [old])
        return {
            "replaces": key_id,
            "key_id": issued.key_id,
            "key_prefix": issued.key_prefix,
            "key": issued.key,
        }

    return await _audited(request, actor, "keys.rotate", key_id, None, apply)


@router.post("/customers/{slug}/provider-keys", status_code=201)
async def new_provider_key(
    slug: str, body: NewProviderKey, request: Request, actor: str = Depends(admin_actor)
) -> JSONResponse:
    added = await _audited(
        request,
        actor,
        "provider_keys.add",
        slug,
        slug,
        lambda: add_provider_key(
            request.app.state.pool,
            request.app.state.keyring,
            slug,
            body.provider,
            body.secret,
            api_style=body.api_style,
            changed_by=actor,
            base_url=body.base_url,
            label=body.label,
            allowed_models=tuple(body.allowed_models) if body.allowed_models else None,
            budget_daily=body.budget_daily,
            budget_monthly=body.budget_monthly,
        ),
        status=201,
    )
    return JSONResponse(_json(added), status_code=201)


@router.get("/customers/{slug}/provider-keys")
async def provider_keys(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    rows = await _audited(
        request,
        actor,
        "provider_keys.list",
        slug,
        slug,
        lambda: list_provider_keys(request.app.state.pool, slug),
    )
    return _json({"object": "list", "data": rows})


@router.post("/provider-keys/{key_id}/revoke")
async def revoke_provider(key_id: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    await _audited(
        request,
        actor,
        "provider_keys.revoke",
        key_id,
        None,
        lambda: revoke_provider_key(request.app.state.pool, key_id, changed_by=actor),
    )
    return {"key_id": key_id, "status": "revoked"}


@router.post("/provider-keys/{key_id}/validate")
async def validate_provider(key_id: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    """A cheap real call with the key (a 1-token completion); the verdict is recorded."""
    svc = request.app.state.services.completions
    result = await _audited(
        request,
        actor,
        "provider_keys.validate",
        key_id,
        None,
        lambda: validate_provider_key(
            request.app.state.pool,
            request.app.state.keyring,
            svc.planner.catalog,
            svc.http,
            key_id,
            changed_by=actor,
        ),
    )
    return _json(result)


@router.post("/provider-keys/rotate-kek")
async def rotate_provider_kek(request: Request, actor: str = Depends(admin_actor)) -> dict:
    """Re-wrap every provider key under the current KEK (first in ONEVAULT_MASTER_KEY)."""
    keyring = request.app.state.keyring
    moved = await _audited(
        request,
        actor,
        "provider_keys.rotate_kek",
        None,
        None,
        lambda: rotate_kek(request.app.state.pool, keyring, changed_by=actor),
    )
    return {"rewrapped": moved, "kek_id": keyring.current_id}


# -- routing rules ----------------------------------------------------------------------------
def _forget_rules(request: Request, customer: str) -> None:
    """This process re-reads the customer's rules at once; others within their cache TTL."""
    rules = request.app.state.services.completions.rules
    if rules is not None:
        rules.forget(customer)


@router.post("/customers/{slug}/rules", status_code=201)
async def new_rule(
    slug: str, body: NewRule, request: Request, actor: str = Depends(admin_actor)
) -> JSONResponse:
    definition = body.model_dump(exclude={"active"}, exclude_none=True)
    rule = await _audited(
        request,
        actor,
        "rules.create",
        slug,
        slug,
        lambda: create_rule(request.app.state.pool, slug, changed_by=actor, **definition),
        status=201,
    )
    _forget_rules(request, slug)
    return JSONResponse(_json(rule.as_json() | {"customer": slug}), status_code=201)


@router.get("/customers/{slug}/rules")
async def list_rules(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    async def read() -> list:
        if not await customer_exists(request.app.state.pool, slug):
            raise AdminError(f"no customer {slug!r}")
        return await customer_rules(request.app.state.pool, slug, active_only=False)

    rules = await _audited(request, actor, "rules.list", slug, slug, read)
    return _json({"object": "list", "data": [r.as_json() for r in rules]})


@router.patch("/rules/{rule_id}")
async def change_rule(
    rule_id: str, body: RuleChanges, request: Request, actor: str = Depends(admin_actor)
) -> dict:
    changes = body.model_dump(exclude_unset=True)
    customer, rule = await _audited(
        request,
        actor,
        "rules.update",
        rule_id,
        None,
        lambda: update_rule(request.app.state.pool, rule_id, changes, changed_by=actor),
        detail=", ".join(sorted(changes)),
    )
    _forget_rules(request, customer)
    return _json(rule.as_json() | {"customer": customer})


@router.post("/rules/{rule_id}/disable")
async def disable(rule_id: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    customer, rule = await _audited(
        request,
        actor,
        "rules.disable",
        rule_id,
        None,
        lambda: disable_rule(request.app.state.pool, rule_id, changed_by=actor),
    )
    _forget_rules(request, customer)
    return _json(rule.as_json() | {"customer": customer})


@router.post("/customers/{slug}/rules/test")
async def test_rules(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    """Dry run: which rule a request would match, why, and the candidate order (no provider call)."""
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(400, "invalid_json", "The body must be the request to test, as JSON.") from exc
    svc = request.app.state.services.completions
    result = await _audited(
        request,
        actor,
        "rules.test",
        slug,
        slug,
        lambda: explain_routing(request.app.state.pool, svc.planner, slug, body),
    )
    return _json(result)
