"""Overview: spend today and this month against the budgets (with the forecast), requests, error
rate, cache savings, the top models, teams and keys, and the last 30 days as a chart."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from gateway.console import charts
from gateway.console.data.overview import overview
from gateway.console.deps import Viewer, services, viewer
from gateway.console.render import render

router = APIRouter()


@router.get("/overview")
async def overview_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    today = datetime.now(timezone.utc).date()
    data = await overview(services(request).pool, v.scope, today=today)
    chart = Markup(charts.daily_spend_chart(data.daily)) if data.daily else None
    return render(request, "overview.html", v, title="Overview", o=data, chart=chart)
