"""A customer's own provider keys: add (the secret goes in, only its fingerprint comes out),
validate with a real one-token call, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.admin.customers import AdminError
from gateway.admin.provider_keys import (
    add_provider_key,
    list_provider_keys,
    revoke_provider_key,
    validate_provider_key,
)
from gateway.console.deps import Change, NotFound, Viewer, change, services, viewer
from gateway.console.pages.common import apply, form_list, pick_customer
from gateway.console.render import render

router = APIRouter()
API_STYLES = ("openai", "anthropic", "gemini", "azure_openai", "cohere", "openai_compatible")


async def page(
    request: Request, v: Viewer, *, notice: str | None = None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    if v.customer is None:
        return pick_customer(request, v, "Provider keys")
    rows = await list_provider_keys(services(request).pool, v.customer)
    return render(
        request,
        "provider_keys.html",
        v,
        title="Provider keys",
        keys=rows,
        styles=API_STYLES,
        notice=notice,
        error=error,
        status_code=status,
    )


@router.get("/provider-keys")
async def provider_keys_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    return await page(request, v)


async def _owned(request: Request, c: Change, key_id: str) -> None:
    if c.customer is None or key_id not in {
        k["key_id"] for k in await list_provider_keys(services(request).pool, c.customer)
    }:
        raise NotFound("no such provider key")


@router.post("/provider-keys")
async def add(request: Request, c: Change = Depends(change("provider_keys"))) -> HTMLResponse:
    if c.customer is None:
        raise NotFound("choose a customer first")
    svc, customer = services(request), c.customer

    async def run() -> dict:
        provider, style, secret = c.text("provider"), c.text("api_style"), c.text("secret")
        if not provider or not style or not secret:
            raise AdminError("a provider key needs its provider, API style and secret")
        models = form_list(c, "allowed_models")
        return await add_provider_key(
            svc.pool,
            svc.state.keyring,
            customer,
            provider,
            secret,
            api_style=style,
            changed_by=c.viewer.actor,
            base_url=c.text("base_url"),
            label=c.text("label"),
            allowed_models=tuple(models) if models else None,
            egress=svc.state.egress,
        )

    return await apply(
        request,
        c,
        page,
        "provider_keys.add",
        customer,
        run,
        notice=lambda k: f"Provider key {k['key_id']} added (fingerprint {k['fingerprint']}).",
    )


@router.post("/provider-keys/{key_id}/validate")
async def validate(
    key_id: str, request: Request, c: Change = Depends(change("provider_keys"))
) -> HTMLResponse:
    await _owned(request, c, key_id)
    svc = services(request)
    completions = svc.state.services.completions

    async def run() -> dict:
        return await validate_provider_key(
            svc.pool,
            svc.state.keyring,
            completions.planner.catalog,
            completions.http,
            key_id,
            changed_by=c.viewer.actor,
        )

    return await apply(
        request,
        c,
        page,
        "provider_keys.validate",
        key_id,
        run,
        notice=lambda r: f"Provider key {key_id}: {r.get('validation_status', r)}.",
    )


@router.post("/provider-keys/{key_id}/revoke")
async def revoke(key_id: str, request: Request, c: Change = Depends(change("provider_keys"))) -> HTMLResponse:
    await _owned(request, c, key_id)
    svc = services(request)
    return await apply(
        request,
        c,
        page,
        "provider_keys.revoke",
        key_id,
        lambda: revoke_provider_key(svc.pool, key_id, changed_by=c.viewer.actor),
        notice=f"Provider key {key_id} revoked.",
    )
