"""Jinja2 rendering for every page: the shared layout's navigation (what the user's role may see),
the CSRF token for forms, and money printed fixed-point (never through a float)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from gateway.console.auth.csrf import FIELD
from gateway.console.auth.roles import allows
from gateway.console.deps import Viewer

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# (path, label, who sees it): "operator", a role name, or None for every user.
NAV: tuple[tuple[str, str, str | None], ...] = (
    ("/overview", "Overview", None),
    ("/spend", "Spend", None),
    ("/requests", "Requests", None),
    ("/performance", "Providers", None),
    ("/keys", "Keys", None),
    ("/provider-keys", "Provider keys", None),
    ("/rules", "Routing rules", None),
    ("/budgets", "Budgets", None),
    ("/invoices", "Invoices", None),
    ("/audit-exports", "Audit exports", None),
    ("/settings", "Settings", None),
    ("/users", "Users", "admin"),
    ("/operator", "Operator", "operator"),
)


def money(value: Any, places: int = 2) -> str:
    """Fixed-point with thousands separators; costs below a cent keep their digits."""
    if value is None:
        return "—"
    d = Decimal(value)
    if places == 2 and d != 0 and abs(d) < Decimal("0.01"):
        places = 6
    return f"{d:,.{places}f}"


def count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def pct(value: Any, places: int = 1) -> str:
    return "—" if value is None else f"{Decimal(value) * 100:.{places}f} %"


def when(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value.tzinfo else value.isoformat(" ")
    return str(value)


templates.env.filters.update(money=money, count=count, pct=pct, when=when)


def _nav(viewer: Viewer | None) -> list[tuple[str, str]]:
    if viewer is None:
        return []
    user = viewer.user
    shown = []
    for path, label, who in NAV:
        if who == "operator" and not user.is_operator:
            continue
        if who is not None and who != "operator" and not allows(user, who):
            continue
        shown.append((path, label))
    return shown


def render(
    request: Request, name: str, viewer: Viewer | None, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    root = request.scope.get("root_path", "")

    def href(path: str, **params: Any) -> str:
        """A console URL; an operator looking at one customer stays on it."""
        if viewer is not None and viewer.user.is_operator and viewer.customer:
            params.setdefault("customer", viewer.customer)
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return f"{root}{path}" + (f"?{query}" if query else "")

    csrf = Markup(f'<input type="hidden" name="{FIELD}" value="{viewer.csrf_token}">') if viewer else ""
    return templates.TemplateResponse(
        request,
        name,
        {
            "viewer": viewer,
            "nav": _nav(viewer),
            "root": root,
            "href": href,
            "csrf_field": csrf,
            "current": request.url.path.removeprefix(root),
            **context,
        },
        status_code=status_code,
    )
