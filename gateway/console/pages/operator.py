"""Operator pages: customers (create, settings, suspend), platform spend by customer, billing
runs (with a link to the Dagster UI, where they are watched and re-run), loader lag and health."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.admin.customers import AdminError, CustomerConfig, create_customer, update_customer
from gateway.admin.keys import key_hashes
from gateway.auth.principal import forget
from gateway.console.data.operator import billing_runs, customers, loader_health, platform_spend
from gateway.console.data.scope import Scope
from gateway.console.deps import Change, Viewer, change, needs, services
from gateway.console.pages.common import apply
from gateway.console.render import render

router = APIRouter()


def _dagster_url(request: Request) -> str:
    svc = services(request)
    s = svc.gateway_settings
    return svc.settings.dagster_url or f"http://{s.dagster_host}:{s.dagster_port}"


async def page(
    request: Request, v: Viewer, *, notice: str | None = None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    svc, everyone = services(request), Scope(None)
    today = datetime.now(timezone.utc).date()
    return render(
        request,
        "operator.html",
        v,
        title="Operator",
        notice=notice,
        error=error,
        status_code=status,
        customers=await customers(svc.pool, everyone),
        spend=await platform_spend(svc.pool, everyone, month=today),
        runs=await billing_runs(svc.pool, everyone, dagster_url=_dagster_url(request)),
        health=await loader_health(svc.pool, everyone, loader=getattr(svc.state, "loader", None)),
        month=today.strftime("%Y-%m"),
    )


@router.get("/operator")
async def operator_page(request: Request, v: Viewer = Depends(needs("operator"))) -> HTMLResponse:
    return await page(request, v)


def _decimal(text: str | None, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise AdminError(f"{name} is a decimal number", field=name) from exc


@router.post("/operator/customers")
async def create(request: Request, c: Change = Depends(change("operator:admin"))) -> HTMLResponse:
    svc, slug = services(request), c.text("slug") or ""

    async def run() -> None:
        fields: dict[str, Any] = {"display_name": c.text("display_name")}
        if c.text("tier"):
            fields["tier"] = c.text("tier")
        if c.text("markup_pct") is not None:
            fields["markup_pct"] = _decimal(c.text("markup_pct"), "markup_pct")
        if c.text("currency"):
            fields["currency"] = (c.text("currency") or "").upper()
        await create_customer(
            svc.pool, slug, CustomerConfig(**fields), changed_by=c.viewer.actor, egress=svc.state.egress
        )

    return await apply(request, c, page, "customers.create", slug, run, notice=f"Customer {slug} created.")


@router.post("/operator/customers/{slug}/status")
async def set_status(
    slug: str, request: Request, c: Change = Depends(change("operator:admin"))
) -> HTMLResponse:
    svc, status = services(request), c.text("status") or "active"

    async def run() -> None:
        await update_customer(
            svc.pool, slug, {"status": status}, changed_by=c.viewer.actor, egress=svc.state.egress
        )
        await forget(svc.redis, [bytes(r["key_hash"]) for r in await key_hashes(svc.pool, slug)])

    return await apply(
        request,
        c,
        page,
        "customers.update",
        slug,
        run,
        detail="status",
        notice=f"Customer {slug} is now {status}.",
    )
