"""``/admin/v1``: prepaid credit grants — grant, void, show (docs/billing/credits.md).

Same admin-token auth and audit trail as the other admin routes; every grant and void is a
satellite row with ``changed_by``. A change re-seeds the customer's prepaid wallet on its next
request (``gateway.enforcement.credits.forget``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from gateway.admin.credits import (
    DEFAULT_PRIORITY,
    MAX_PRIORITY,
    balances,
    fixed,
    grant_credit,
    void_grant,
    wallet,
)
from gateway.admin.customers import current_config
from gateway.api.admin.common import AdminBody, Text, admin_actor, audited_call, json_safe
from gateway.enforcement.credits import forget

router = APIRouter()

CreditAmount = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2)]


class GrantBody(AdminBody):
    amount: CreditAmount
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    expires: datetime | None = None
    priority: int = Field(DEFAULT_PRIORITY, ge=0, le=MAX_PRIORITY)
    scope: str | None = Field(None, max_length=250, description="provider:<p> | model:<m> | tag:<k>=<v>")
    description: Text | None = None


class VoidBody(AdminBody):
    reason: Text | None = None


@router.post("/customers/{slug}/credits", status_code=201)
async def grant(slug: str, body: GrantBody, request: Request, actor: str = Depends(admin_actor)) -> dict:
    pool = request.app.state.pool

    async def apply() -> dict[str, Any]:
        made = await grant_credit(
            pool,
            slug,
            body.amount,
            changed_by=actor,
            currency=body.currency,
            expires_at=body.expires,
            priority=body.priority,
            scope=body.scope,
            description=body.description,
        )
        await forget(request.app.state.redis, slug)
        return made

    made = await audited_call(
        request, actor, "credits.grant", slug, slug, apply, detail=f"amount {body.amount}", status=201
    )
    return json_safe(made)


@router.post("/credits/{grant_id}/void")
async def void(
    grant_id: str, request: Request, body: VoidBody | None = None, actor: str = Depends(admin_actor)
) -> dict:
    pool = request.app.state.pool

    async def apply() -> dict[str, Any]:
        done = await void_grant(pool, grant_id, changed_by=actor, reason=body.reason if body else None)
        await forget(request.app.state.redis, done["customer"])
        return done

    done = await audited_call(request, actor, "credits.void", grant_id, None, apply)
    return json_safe(done)


@router.get("/customers/{slug}/credits")
async def show(slug: str, request: Request, actor: str = Depends(admin_actor)) -> dict:
    pool = request.app.state.pool

    async def read() -> dict[str, Any]:
        config = await current_config(pool, slug)
        grants = await balances(pool, slug)
        return {
            "customer": slug,
            "billing_mode": config.billing_mode or "postpaid",
            "low_balance_threshold": None
            if config.low_balance_threshold is None
            else fixed(config.low_balance_threshold),
            "currency": config.currency,
            "balance": fixed(wallet(grants, config.currency)),
            "grants": [g.to_json() for g in grants],
        }

    return await audited_call(request, actor, "credits.show", slug, slug, read)
