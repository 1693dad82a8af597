"""Provider performance: p50/p95/p99 latency, error rate and availability per provider and model
over time (``provider_performance_5m``), as a table and charts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from gateway.console import charts
from gateway.console.data.performance import provider_performance
from gateway.console.deps import Viewer, services, viewer
from gateway.console.render import render

router = APIRouter()
WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


@router.get("/performance")
async def performance_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    q = request.query_params
    window = q.get("window") or "24h"
    if window not in WINDOWS:
        window = "24h"
    until = datetime.now(timezone.utc)
    series = await provider_performance(
        services(request).pool,
        v.scope,
        since=until - WINDOWS[window],
        until=until,
        provider=(q.get("provider") or None),
        model=(q.get("model") or None),
    )
    return render(
        request,
        "performance.html",
        v,
        title="Provider performance",
        s=series,
        window=window,
        windows=list(WINDOWS),
        q=q,
        latency_chart=Markup(charts.performance_chart(series)) if series.points else None,
        availability_chart=Markup(charts.performance_chart(series, "availability"))
        if series.points
        else None,
    )
