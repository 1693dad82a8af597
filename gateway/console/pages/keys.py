"""Gateway keys: list, create (the secret shown once, with a copy button), rotate, revoke."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.admin.customers import AdminError
from gateway.admin.keys import IssuedKey, create_gateway_key, list_keys, revoke_key, rotate_key
from gateway.auth.principal import Limits, forget
from gateway.console.data.keys import keys_last_used
from gateway.console.deps import Change, NotFound, Viewer, change, services, viewer
from gateway.console.pages.common import apply, form_int, form_list, pick_customer
from gateway.console.render import render

router = APIRouter()


async def page(
    request: Request,
    v: Viewer,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    issued: IssuedKey | None = None,
) -> HTMLResponse:
    if v.customer is None:
        return pick_customer(request, v, "Keys")
    pool = services(request).pool
    rows = await list_keys(pool, v.customer, last_used=False)
    used = await keys_last_used(pool, v.scope)
    rows = [{**r, "last_used_at": used.get(r["key_id"])} for r in rows]
    return render(
        request,
        "keys.html",
        v,
        title="Keys",
        keys=rows,
        issued=issued,
        notice=notice,
        error=error,
        status_code=status,
    )


@router.get("/keys")
async def keys_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    return await page(request, v)


def _money(c: Change, name: str) -> Decimal | None:
    text = c.text(name)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise AdminError(f"{name.replace('_', ' ')} is an amount such as 25.00", field=name) from exc
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise AdminError(f"{name.replace('_', ' ')} is a positive amount in cents", field=name)
    return value


async def _owned(request: Request, c: Change, key_id: str) -> None:
    """Another customer's key is 'not found', as a key that does not exist."""
    if c.customer is None or key_id not in {
        k["key_id"] for k in await list_keys(services(request).pool, c.customer, last_used=False)
    }:
        raise NotFound("no such key")


@router.post("/keys")
async def create(request: Request, c: Change = Depends(change("keys"))) -> HTMLResponse:
    if c.customer is None:
        raise NotFound("choose a customer first")
    customer = c.customer

    async def run() -> IssuedKey:
        limits = Limits(
            form_int(c, "rate_limit_rpm"),
            form_int(c, "rate_limit_tpm"),
            _money(c, "budget_daily"),
            _money(c, "budget_monthly"),
        )
        models = form_list(c, "allowed_models")
        return await create_gateway_key(
            services(request).pool,
            customer,
            changed_by=c.viewer.actor,
            label=c.text("label"),
            limits=limits,
            allowed_models=tuple(models) if models else None,
        )

    return await apply(
        request,
        c,
        page,
        "keys.create",
        customer,
        run,
        notice=lambda k: f"Key {k.key_id} created. Copy it now: it is shown only once.",
        issued=lambda k: k,
    )


@router.post("/keys/{key_id}/revoke")
async def revoke(key_id: str, request: Request, c: Change = Depends(change("keys"))) -> HTMLResponse:
    await _owned(request, c, key_id)
    svc = services(request)

    async def run() -> None:
        await forget(svc.redis, [await revoke_key(svc.pool, key_id, changed_by=c.viewer.actor)])

    return await apply(request, c, page, "keys.revoke", key_id, run, notice=f"Key {key_id} revoked.")


@router.post("/keys/{key_id}/rotate")
async def rotate(key_id: str, request: Request, c: Change = Depends(change("keys"))) -> HTMLResponse:
    await _owned(request, c, key_id)
    svc = services(request)

    async def run() -> IssuedKey:
        hours = form_int(c, "grace_hours")
        grace = timedelta(hours=24 if hours is None else hours)
        if not timedelta(0) <= grace <= timedelta(days=90):
            raise AdminError("the grace period is 0 to 2160 hours", field="grace_hours")
        issued, old = await rotate_key(svc.pool, key_id, changed_by=c.viewer.actor, grace=grace)
        await forget(svc.redis, [old])
        return issued

    return await apply(
        request,
        c,
        page,
        "keys.rotate",
        key_id,
        run,
        notice=lambda k: (
            f"Key {key_id} rotated: it works until its grace period ends; its successor is {k.key_id}."
        ),
        issued=lambda k: k,
    )
