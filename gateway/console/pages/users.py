"""Console users (admins): create one (a generated first password, shown once), change a role,
disable or re-enable. A customer's admin manages its users; an operator admin, the operator
users or (with a customer chosen) that customer's."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from gateway.admin.console_users import ROLES, create_user, list_users, update_user
from gateway.console.deps import Change, NotFound, Viewer, change, needs, services
from gateway.console.pages.common import apply
from gateway.console.render import render

router = APIRouter()


async def page(
    request: Request,
    v: Viewer,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    password: tuple[str, str] | None = None,
) -> HTMLResponse:
    users = await list_users(services(request).pool, v.customer)
    return render(
        request,
        "users.html",
        v,
        title="Users",
        users=users,
        roles=ROLES,
        password=password,
        notice=notice,
        error=error,
        status_code=status,
    )


@router.get("/users")
async def users_page(request: Request, v: Viewer = Depends(needs("users"))) -> HTMLResponse:
    return await page(request, v)


async def _owned(request: Request, c: Change, email: str) -> None:
    """Only users of the customer in view (or operator users, viewed by an operator)."""
    if email.lower() not in {u.email for u in await list_users(services(request).pool, c.customer)}:
        raise NotFound("no such user")


@router.post("/users")
async def create(request: Request, c: Change = Depends(change("users"))) -> HTMLResponse:
    pool, password = services(request).pool, secrets.token_urlsafe(18)

    async def run() -> Any:
        return await create_user(
            pool,
            c.text("email") or "",
            c.text("role") or "viewer",
            customer=c.customer,
            operator=c.customer is None,
            password=password,
            display_name=c.text("display_name"),
            changed_by=c.viewer.actor,
            record_source="console",
        )

    return await apply(
        request,
        c,
        page,
        "console_users.create",
        c.text("email"),
        run,
        notice=lambda u: f"User {u.email} created as {u.role}.",
        password=lambda u: (u.email, password),
    )


@router.post("/users/{email}/role")
async def set_role(email: str, request: Request, c: Change = Depends(change("users"))) -> HTMLResponse:
    await _owned(request, c, email)
    pool = services(request).pool
    return await apply(
        request,
        c,
        page,
        "console_users.set_role",
        email,
        lambda: update_user(
            pool, email, role=c.text("role"), changed_by=c.viewer.actor, record_source="console"
        ),
        notice=lambda u: f"{u.email} is now {u.role}.",
    )


@router.post("/users/{email}/status")
async def set_status(email: str, request: Request, c: Change = Depends(change("users"))) -> HTMLResponse:
    await _owned(request, c, email)
    pool = services(request).pool
    return await apply(
        request,
        c,
        page,
        "console_users.set_status",
        email,
        lambda: update_user(
            pool, email, status=c.text("status"), changed_by=c.viewer.actor, record_source="console"
        ),
        notice=lambda u: f"{u.email} is now {u.status}.",
    )
