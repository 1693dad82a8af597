"""FastAPI dependencies of every console page: the logged-in user, the Scope their reads run
under, role checks and the CSRF check on every change — the one place these are decided.

The Scope comes from the session's user: a customer user's customer, always; only an operator
may name a customer (``?customer=``) to look at one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from fastapi import Depends, Request
from starlette.datastructures import FormData

from gateway.admin.audit import AdminAction, audited
from gateway.admin.console_users import ConsoleUser, get_user
from gateway.admin.customers import customer_exists
from gateway.console.auth.csrf import FIELD, CsrfSigner
from gateway.console.auth.login_guard import LoginGuard
from gateway.console.auth.roles import allows
from gateway.console.auth.sessions import COOKIE, Session, SessionStore
from gateway.console.data.scope import Scope
from gateway.console.settings import ConsoleSettings
from warehouse.settings import Settings

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class LoginRequired(Exception):
    """No live session: pages redirect to the login form."""


class Forbidden(Exception):
    """A change (or page) the user's role does not allow, or a failed CSRF check: 403."""


class NotFound(Exception):
    """Nothing here for this user — also what another customer's object looks like."""


@dataclass(frozen=True, slots=True)
class ConsoleServices:
    """What the console shares with the gateway it is mounted in (its pools and Redis)."""

    pool: asyncpg.Pool
    redis: aioredis.Redis
    state: Any  # the gateway app's state (services, keyring, egress)
    settings: ConsoleSettings
    gateway_settings: Settings
    sessions: SessionStore
    guard: LoginGuard
    csrf: CsrfSigner


def services(request: Request) -> ConsoleServices:
    return request.app.state.console_services(request.app.state.gateway.state)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in user of this request, and what their reads are scoped to."""

    user: ConsoleUser
    session: Session
    csrf_token: str
    scope: Scope

    @property
    def customer(self) -> str | None:
        """The customer this request is about (None: an operator looking at every customer)."""
        return self.scope.customer_slug

    @property
    def actor(self) -> str:
        return f"console:{self.user.email}"

    def may(self, what: str) -> bool:
        return allows(self.user, what)


async def viewer(request: Request) -> Viewer:
    svc = services(request)
    session = await svc.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise LoginRequired()
    user = await get_user(svc.pool, session.email)
    if user is None or user.status != "active":
        await svc.sessions.delete(session.sid)
        raise LoginRequired()
    customer = user.customer
    if user.is_operator:
        asked = request.query_params.get("customer") or None
        customer = asked if asked and _SLUG.match(asked) else None
        if customer is not None and not await customer_exists(svc.pool, customer):
            raise NotFound(f"no customer {customer!r}")
    scope = Scope(customer_slug=customer, show_payloads=allows(user, "payloads"))
    return Viewer(user, session, svc.csrf.token(session.csrf_nonce), scope)


def needs(what: str) -> Callable[..., Awaitable[Viewer]]:
    """A page only users allowed ``what`` may open: a ``roles.NEEDS`` key or role, ``operator``
    (the operator flag) or ``operator:<role>`` (both)."""

    operator, _, role = what.partition(":") if what.startswith("operator") else ("", "", what)

    async def check(v: Viewer = Depends(viewer)) -> Viewer:
        if operator and not v.user.is_operator:
            raise Forbidden("operator pages are for operator users")
        if role and not v.may(role):
            raise Forbidden(f"your role ({v.user.role}) may not do this")
        return v

    return check


@dataclass(frozen=True, slots=True)
class Change:
    """A checked change request: the user (allowed, CSRF token valid), the form, the customer."""

    viewer: Viewer
    form: FormData
    customer: str | None

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.form.get(name)
        if not isinstance(value, str) or not value.strip():
            return default
        return value.strip()


def change(what: str) -> Callable[..., Awaitable[Change]]:
    """A POST that changes ``what``: role check, then CSRF check (both 403), then the customer —
    the user's own, or for an operator the form's ``customer`` field."""

    async def check(request: Request, v: Viewer = Depends(needs(what))) -> Change:
        form = await request.form()
        token = form.get(FIELD)
        if not services(request).csrf.valid(token if isinstance(token, str) else None, v.session.csrf_nonce):
            raise Forbidden("the form's CSRF token is missing or wrong; reload the page and try again")
        customer = v.user.customer
        if v.user.is_operator:
            asked = form.get("customer") or request.query_params.get("customer")
            customer = asked if isinstance(asked, str) and _SLUG.match(asked) else None
        return Change(v, form, customer)

    return check


async def run_change(
    request: Request,
    c: Change,
    action: str,
    target: str | None,
    run: Callable[[], Awaitable[Any]],
    *,
    detail: str | None = None,
) -> Any:
    """Run an admin-plane change as the admin API does — audited, ``changed_by`` the user."""
    call = AdminAction(
        c.viewer.actor,
        action,
        target,
        customer=c.customer,
        detail=detail,
        source_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        record_source="console",
        status_code=200,
    )
    return await audited(services(request).pool, call, run)
