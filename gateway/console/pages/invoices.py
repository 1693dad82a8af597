"""Invoices: the current draft and the finalised ones, each with its lines and its PDF and CSV
(drawn by the same code as the billing run's documents, dagster_pipelines/documents.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from dagster_pipelines.documents import write_csv, write_pdf
from gateway.console.data.invoices import invoice, invoices
from gateway.console.deps import NotFound, Viewer, services, viewer
from gateway.console.render import render
from warehouse.billing.invoices import InvoiceDoc

router = APIRouter()


@router.get("/invoices")
async def invoices_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    found = await invoices(services(request).pool, v.scope)
    return render(request, "invoices.html", v, title="Invoices", invoices=found)


async def _doc(request: Request, v: Viewer) -> InvoiceDoc:
    invoice_id = (request.query_params.get("id") or "")[:200]
    doc = await invoice(services(request).pool, v.scope, invoice_id) if invoice_id else None
    if doc is None:
        raise NotFound("no such invoice")
    return doc


@router.get("/invoices/view")
async def invoice_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    doc = await _doc(request, v)
    return render(
        request, "invoice.html", v, title=f"Invoice {doc.invoice_number or doc.invoice_id}", doc=doc
    )


def _document(doc: InvoiceDoc, kind: str) -> Response:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{doc.file_stem}.{kind}"
        (write_pdf if kind == "pdf" else write_csv)(doc, path)
        body = path.read_bytes()
    media = "application/pdf" if kind == "pdf" else "text/csv; charset=utf-8"
    return Response(
        body,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="{doc.file_stem}.{kind}"'},
    )


@router.get("/invoices/download.pdf")
async def invoice_pdf(request: Request, v: Viewer = Depends(viewer)) -> Response:
    return _document(await _doc(request, v), "pdf")


@router.get("/invoices/download.csv")
async def invoice_csv(request: Request, v: Viewer = Depends(viewer)) -> Response:
    return _document(await _doc(request, v), "csv")
