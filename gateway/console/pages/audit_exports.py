"""Audit exports: the customer's signed, chained exports; start one for a period (admins), and
download its bundle (the manifest, its signature and every file, zipped) — the same export
``onevault audit export`` writes (warehouse.audit)."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from gateway.admin.customers import AdminError
from gateway.console.data.audit_exports import audit_exports
from gateway.console.deps import Change, NotFound, Viewer, change, services, viewer
from gateway.console.pages.common import apply, pick_customer
from gateway.console.render import render
from warehouse.audit import ExportError, ExportResult, ExportScope, SigningKey, export_customer

router = APIRouter()
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def _root_dir(request: Request, customer: str) -> Path:
    return services(request).gateway_settings.home_dir / "audit-exports" / customer


async def _exports(request: Request, v: Viewer) -> list:
    return await audit_exports(services(request).pool, v.scope)


async def page(
    request: Request, v: Viewer, *, notice: str | None = None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    if v.customer is None:
        return pick_customer(request, v, "Audit exports")
    today = datetime.now(timezone.utc).date()
    return render(
        request,
        "audit_exports.html",
        v,
        title="Audit exports",
        exports=await _exports(request, v),
        start=today.replace(day=1),
        end=today,
        notice=notice,
        error=error,
        status_code=status,
    )


@router.get("/audit-exports")
async def exports_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    return await page(request, v)


@router.post("/audit-exports")
async def start(request: Request, c: Change = Depends(change("audit_exports"))) -> HTMLResponse:
    if c.customer is None:
        raise NotFound("choose a customer first")
    svc, customer = services(request), c.customer

    async def run() -> ExportResult:
        try:
            scope = ExportScope(
                customer,
                date.fromisoformat(c.text("from") or ""),
                date.fromisoformat(c.text("to") or ""),
                datetime.now(timezone.utc),
            )
        except ValueError as exc:
            raise AdminError(f"the period: {exc}", field="from") from exc
        out = _root_dir(request, customer) / f"export-{secrets.token_hex(6)}"
        try:
            result = await export_customer(
                svc.pool,
                scope,
                out,
                SigningKey.from_settings(svc.gateway_settings),
                created_by=c.viewer.actor,
                issuer=svc.gateway_settings.billing_issuer,
            )
        except ExportError as exc:
            raise AdminError(str(exc)) from exc
        await asyncio.to_thread(out.rename, out.with_name(result.export_id))
        return result

    return await apply(
        request,
        c,
        page,
        "audit.export",
        customer,
        run,
        notice=lambda r: f"Export {r.export_id} written and signed ({r.manifest_sha256[:16]}…).",
    )


@router.get("/audit-exports/{export_id}.zip")
async def download(export_id: str, request: Request, v: Viewer = Depends(viewer)) -> Response:
    known = (
        {r["export_id"]: r["customer_bk"] for r in await _exports(request, v)} if _ID.match(export_id) else {}
    )
    if export_id not in known:
        raise NotFound("no such export")
    folder = _root_dir(request, known[export_id]) / export_id
    if not folder.is_dir():
        raise NotFound("this export's files are not on this server (it was written elsewhere)")

    def zipped() -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            return Path(shutil.make_archive(str(Path(tmp) / export_id), "zip", folder)).read_bytes()

    body = await asyncio.to_thread(zipped)
    return Response(
        body,
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{export_id}.zip"'},
    )
