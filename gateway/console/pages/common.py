"""What the change pages share: the customer a page is about, and refusals shown in the page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from gateway.admin.audit import refused_status
from gateway.admin.customers import AdminError
from gateway.console.deps import Change, Viewer, run_change
from gateway.console.render import render

Page = Callable[..., Awaitable[HTMLResponse]]


def pick_customer(request: Request, v: Viewer, title: str) -> HTMLResponse:
    """An operator opened a one-customer page without choosing the customer."""
    return render(request, "pick_customer.html", v, title=title)


async def apply(
    request: Request,
    c: Change,
    page: Page,
    action: str,
    target: str | None,
    run: Callable[[], Awaitable[Any]],
    *,
    notice: str | Callable[[Any], str],
    detail: str | None = None,
    **shown: Any,
) -> HTMLResponse:
    """Run a change and redraw ``page`` with its outcome: a notice, or the refusal's reason."""
    try:
        result = await run_change(request, c, action, target, run, detail=detail)
    except AdminError as exc:
        return await page(request, c.viewer, error=str(exc), status=refused_status(str(exc)))
    text = notice(result) if callable(notice) else notice
    extra = {k: (v(result) if callable(v) else v) for k, v in shown.items()}
    return await page(request, c.viewer, notice=text, **extra)


def form_int(c: Change, name: str) -> int | None:
    text = c.text(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise AdminError(f"{name.replace('_', ' ')} is a whole number", field=name) from exc


def form_list(c: Change, name: str) -> list[str] | None:
    text = c.text(name)
    return [p.strip() for p in text.split(",") if p.strip()] if text else None
