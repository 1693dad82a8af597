"""A customer's own provider keys: secrets in, fingerprints out; revoke, validate, re-wrap."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from starlette.responses import JSONResponse

from gateway.admin.kek_rotation import rotate_kek
from gateway.admin.provider_keys import (
    add_provider_key,
    list_provider_keys,
    revoke_provider_key,
    validate_provider_key,
)
from gateway.api.admin.common import (
    AdminBody,
    Money,
    Text,
    admin_actor,
    audited_call,
    json_safe,
)

router = APIRouter()


class NewProviderKey(AdminBody):
    provider: Text
    api_style: Text
    secret: str = Field(repr=False, min_length=1, max_length=4096)
    base_url: str | None = Field(None, max_length=2048)
    label: Text | None = None
    allowed_models: list[Text] | None = Field(None, max_length=500)
    budget_daily: Money | None = None
    budget_monthly: Money | None = None


@router.post("/customers/{slug}/provider-keys", status_code=201)
async def new_provider_key(
    slug: str, body: NewProviderKey, request: Request, actor: str = Depends(admin_actor)
) -> JSONResponse:
    added = await audited_call(
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
            egress=request.app.state.egress,
        ),
        status=201,
    )
    return JSONResponse(json_safe(added), status_code=201)


@router.get("/customers/{slug}/provider-keys")
async def provider_keys(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    rows = await audited_call(
        request,
        actor,
        "provider_keys.list",
        slug,
        slug,
        lambda: list_provider_keys(request.app.state.pool, slug),
    )
    return json_safe({"object": "list", "data": rows})


@router.post("/provider-keys/{key_id}/revoke")
async def revoke_provider(key_id: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    await audited_call(
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
    result = await audited_call(
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
    return json_safe(result)


@router.post("/provider-keys/rotate-kek")
async def rotate_provider_kek(request: Request, actor: str = Depends(admin_actor)) -> dict:
    """Re-wrap every wrapped secret (provider keys, webhook secrets, customer data keys) under the
    current KEK (first in ONEVAULT_MASTER_KEY); counts per kind, and any left unreadable."""
    keyring = request.app.state.keyring
    return await audited_call(
        request,
        actor,
        "provider_keys.rotate_kek",
        None,
        None,
        lambda: rotate_kek(request.app.state.pool, keyring, changed_by=actor),
    )
