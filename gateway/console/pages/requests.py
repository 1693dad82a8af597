"""Request log: search by request id, key, provider, model, status and time (keyset pages); a
request's detail: its attempts (the failover path), tokens, cost lines, route and rule, cache
status, PII actions, and the prompt and completion only where retention kept them and the
user's role allows it."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.console.data.requests import RequestQuery, request_detail, request_log
from gateway.console.deps import NotFound, Viewer, services, viewer
from gateway.console.render import render
from gateway.crypto.data_keys import DataKeys

router = APIRouter()
STATUSES = ("success", "error", "rejected")


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _clean(text: str | None, limit: int = 200) -> str | None:
    return text.strip()[:limit] or None if text else None


@router.get("/requests")
async def requests_page(request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    q = request.query_params
    query = RequestQuery(
        request_id=_clean(q.get("request_id")),
        key=_clean(q.get("key")),
        provider=_clean(q.get("provider")),
        model=_clean(q.get("model")),
        status=q.get("status") if q.get("status") in STATUSES else None,
        since=_time(q.get("since")),
        until=_time(q.get("until")),
        before=_clean(q.get("before"), 300),
    )
    found = await request_log(services(request).pool, v.scope, query=query)
    more = {k: v_ for k, v_ in q.items() if k not in ("before", "customer") and v_}
    return render(
        request, "requests.html", v, title="Requests", page=found, q=q, statuses=STATUSES, more=more
    )


@router.get("/requests/{request_id}")
async def request_page(request_id: str, request: Request, v: Viewer = Depends(viewer)) -> HTMLResponse:
    svc = services(request)
    keys = DataKeys(svc.pool, svc.state.keyring) if v.scope.show_payloads else None
    detail = await request_detail(svc.pool, v.scope, request_id[:200], keys=keys)
    if detail is None:
        raise NotFound("no such request")
    return render(request, "request_detail.html", v, title=f"Request {request_id}", d=detail)
