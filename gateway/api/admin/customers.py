"""``/admin/v1/customers``: create, show and change a tenant; its budget-alert webhook secret."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.responses import JSONResponse

from gateway.admin.customers import (
    TIERS,
    CustomerConfig,
    create_customer,
    current_config,
    update_customer,
)
from gateway.admin.keys import key_hashes
from gateway.alerts.webhook_secrets import create_webhook_secret, has_webhook_secret
from gateway.api.admin.common import (
    AdminBody,
    Count,
    Money,
    Text,
    admin_actor,
    audited_call,
    given_fields,
    json_safe,
)
from gateway.auth.principal import forget

router = APIRouter()


class CustomerBody(AdminBody):
    display_name: Text | None = None
    tier: Literal[TIERS] | None = None  # type: ignore[valid-type]  # dbt_project/seeds/tiers.csv
    status: Literal["active", "suspended"] | None = None
    markup_pct: Decimal | None = Field(None, ge=0, le=1000, decimal_places=4)
    budget_daily: Money | None = None
    budget_monthly: Money | None = None
    rate_limit_rpm: Count | None = None
    rate_limit_tpm: Count | None = None
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
    cache_ttl_s: Count | None = None
    cache_similarity: Decimal | None = Field(None, gt=0, le=1, decimal_places=4)
    cache_price_per_request: Decimal | None = Field(None, ge=0, max_digits=24, decimal_places=12)
    cache_price_per_1k_tokens: Decimal | None = Field(None, ge=0, max_digits=24, decimal_places=12)
    pii_mode: str | None = Field(None, max_length=20)
    embedding_model: str | None = Field(None, max_length=200)
    # options a provider cannot honour: dropped and recorded (true) or refused with 400 (false)
    drop_unsupported_params: bool | None = None
    # requests in flight at once, customer and each of its keys (None = gateway default, 0 = none)
    max_concurrent: Count | None = None
    max_concurrent_per_key: Count | None = None
    # prepaid credits (docs/billing/credits.md): refused with 402 credit_exhausted past the wallet
    billing_mode: Literal["prepaid", "postpaid"] | None = None
    low_balance_threshold: Money | None = None
    # pricing plans (docs/billing/plans.md): limits over the tier's defaults (0 = refuse all),
    # a share of the month's savings, a graduated markup plan (checked against its seed: 400)
    rate_limit_rph: Count | None = None
    monthly_token_quota: int | None = Field(None, ge=0, le=2**63 - 1)
    savings_share_pct: Decimal | None = Field(None, ge=0, le=100, decimal_places=4)
    markup_plan: str | None = Field(None, min_length=1, max_length=64)


class NewCustomer(CustomerBody):
    slug: str


@router.post("/customers", status_code=201)
async def create(body: NewCustomer, request: Request, actor: str = Depends(admin_actor)) -> dict:
    pool = request.app.state.pool
    config = CustomerConfig(**{k: v for k, v in given_fields(body).items() if k != "slug"})
    await audited_call(
        request,
        actor,
        "customers.create",
        body.slug,
        body.slug,
        lambda: create_customer(pool, body.slug, config, changed_by=actor, egress=request.app.state.egress),
        status=201,
    )
    extra = await _webhook_secret_if_new(request, body.slug, config, actor)
    return json_safe({"customer": body.slug, **asdict(config), **extra})


@router.get("/customers/{slug}")
async def show(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    config = await audited_call(
        request, actor, "customers.show", slug, slug, lambda: current_config(request.app.state.pool, slug)
    )
    return json_safe({"customer": slug, **asdict(config)})


@router.patch("/customers/{slug}")
async def update(slug: str, body: CustomerBody, request: Request, actor: str = Depends(admin_actor)) -> dict:
    pool, changes = request.app.state.pool, given_fields(body)

    async def apply() -> CustomerConfig:
        config = await update_customer(pool, slug, changes, changed_by=actor, egress=request.app.state.egress)
        await forget(request.app.state.redis, [bytes(r["key_hash"]) for r in await key_hashes(pool, slug)])
        return config

    config = await audited_call(
        request, actor, "customers.update", slug, slug, apply, detail=", ".join(sorted(changes))
    )
    extra = await _webhook_secret_if_new(request, slug, config, actor)
    return json_safe({"customer": slug, **asdict(config), **extra})


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
    made = await audited_call(
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
