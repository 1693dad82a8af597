"""Spend explorer: the marts by day or month × a dimension, filtered; a chart, a table, CSV."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from gateway.console import charts
from gateway.console.data.spend import DIMENSIONS, SpendFilters, spend, spend_csv
from gateway.console.deps import Viewer, services, viewer
from gateway.console.render import render

router = APIRouter()
FILTERS = ("provider", "model", "key", "team", "project", "cost_center", "end_user")
PAGE_ROWS = 500  # rows drawn in the page's table (a browser lays out thousands slowly); the CSV has all


def _date(text: str | None, default: date) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError:
        return default


def _query(request: Request, v: Viewer) -> dict[str, Any]:
    q = request.query_params
    today = datetime.now(timezone.utc).date()
    grain = q.get("grain") if q.get("grain") in ("day", "month") else "day"
    by = q.get("by") if q.get("by") in DIMENSIONS else "provider"
    if by == "customer" and not v.user.is_operator:
        by = "provider"
    start = _date(q.get("start"), today - timedelta(days=29))
    end = _date(q.get("end"), today)
    values = {f: (q.get(f) or None) for f in FILTERS}
    return {
        "grain": grain,
        "by": by,
        "start": start,
        "end": max(start, end),
        "filters": SpendFilters(**values),
    }


@router.get("/spend")
async def spend_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    args = _query(request, v)
    table = await spend(services(request).pool, v.scope, **args)
    dims = [d for d in DIMENSIONS if d != "customer" or v.user.is_operator]
    return render(
        request,
        "spend.html",
        v,
        title="Spend",
        t=table,
        args=args,
        dims=dims,
        filters=FILTERS,
        page_rows=PAGE_ROWS,
        chart=Markup(charts.spend_chart(table)) if table.rows else None,
        csv_query=request.url.query,
    )


@router.get("/spend.csv")
async def spend_download(request: Request, v: Viewer = Depends(viewer)) -> Response:
    args = _query(request, v)
    text = await spend_csv(services(request).pool, v.scope, **args)
    name = f"spend-{args['grain']}-{args['by']}-{args['start']}-{args['end']}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
