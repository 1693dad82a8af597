"""A customer's OneVault API keys: issue (shown once), list, revoke, rotate with a grace period."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, Field

from gateway.admin.keys import create_gateway_key, list_keys, revoke_key, rotate_key
from gateway.api.admin.common import (
    AdminBody,
    Count,
    Money,
    Text,
    admin_actor,
    audited_call,
    json_safe,
)
from gateway.auth.principal import Limits, forget

router = APIRouter()


class NewKey(AdminBody):
    label: Text | None = None
    allowed_models: list[Text] | None = Field(None, max_length=500)
    expires_at: AwareDatetime | None = None
    rate_limit_rpm: Count | None = None
    rate_limit_tpm: Count | None = None
    budget_daily: Money | None = None
    budget_monthly: Money | None = None


class Rotation(AdminBody):
    grace_hours: float = Field(24.0, ge=0, le=24 * 90, allow_inf_nan=False)


@router.post("/customers/{slug}/keys", status_code=201)
async def new_key(slug: str, body: NewKey, request: Request, actor: str = Depends(admin_actor)) -> dict:
    limits = Limits(body.rate_limit_rpm, body.rate_limit_tpm, body.budget_daily, body.budget_monthly)
    issued = await audited_call(
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
    rows = await audited_call(
        request, actor, "keys.list", slug, slug, lambda: list_keys(request.app.state.pool, slug)
    )
    return json_safe({"object": "list", "data": rows})


@router.post("/keys/{key_id}/revoke")
async def revoke(key_id: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    async def apply() -> None:
        await forget(
            request.app.state.redis, [await revoke_key(request.app.state.pool, key_id, changed_by=actor)]
        )

    await audited_call(request, actor, "keys.revoke", key_id, None, apply)
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

    return await audited_call(request, actor, "keys.rotate", key_id, None, apply)
