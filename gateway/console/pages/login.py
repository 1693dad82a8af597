"""Log in (password, or single sign-on), log out."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from gateway.admin.console_users import create_user, get_user, store_password_hash, update_user
from gateway.auth import passwords
from gateway.console.auth import oidc
from gateway.console.auth.csrf import FIELD
from gateway.console.auth.sessions import COOKIE, Session
from gateway.console.deps import Forbidden, Viewer, services, viewer
from gateway.console.render import render

router = APIRouter()
LOGIN_NONCE = "ov_console_login"
GENERIC = "Wrong e-mail address or password, or the account is locked or disabled."


def _secure(request: Request) -> bool:
    chosen = services(request).settings.cookie_secure
    return request.url.scheme == "https" if chosen is None else chosen


def _root(request: Request) -> str:
    return request.scope.get("root_path", "")


def _next(request: Request, value: str | None) -> str:
    """Where to go after login: a path inside the console only (never another site)."""
    root = _root(request)
    if value and value.startswith(root + "/") and not value.startswith("//") and not urlsplit(value).netloc:
        return value
    return f"{root}/overview"


def _start_session(request: Request, session: Session, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        session.sid,
        httponly=True,
        secure=_secure(request),
        samesite="lax",
        path=_root(request) or "/",
        max_age=services(request).settings.session_absolute_s,
    )
    response.delete_cookie(LOGIN_NONCE, path=_root(request) or "/")
    return response


def _form(request: Request, *, error: str | None = None, status: int = 200, email: str = "") -> Response:
    nonce = request.cookies.get(LOGIN_NONCE) or secrets.token_urlsafe(16)
    svc = services(request)
    response = render(
        request,
        "login.html",
        None,
        status_code=status,
        error=error,
        email=email,
        login_csrf=svc.csrf.token(nonce),
        next=_next(request, request.query_params.get("next")),
        sso=svc.settings.oidc_enabled,
    )
    response.set_cookie(
        LOGIN_NONCE,
        nonce,
        httponly=True,
        secure=_secure(request),
        samesite="lax",
        path=_root(request) or "/",
        max_age=3600,
    )
    return response


@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse(f"{_root(request)}/overview", status_code=303)


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _form(request)


@router.post("/login")
async def login(request: Request) -> Response:
    svc = services(request)
    form = await request.form()
    email = str(form.get("email") or "").strip().lower()[:254]
    password = str(form.get("password") or "")
    token = form.get(FIELD)
    if not svc.csrf.valid(token if isinstance(token, str) else None, request.cookies.get(LOGIN_NONCE)):
        return _form(request, error="The form expired; please try again.", status=403, email=email)
    address = request.client.host if request.client else None
    if await svc.guard.blocked(email, address):
        passwords.verify(None, password)  # the same time as a real check
        return _form(request, error=GENERIC, status=401, email=email)
    user = await get_user(svc.pool, email) if email else None
    ok = passwords.verify(user.password_hash if user else None, password)
    if not ok or user is None or user.status != "active":
        await svc.guard.failed(email, address)
        return _form(request, error=GENERIC, status=401, email=email)
    await svc.guard.succeeded(email)
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        await store_password_hash(
            svc.pool, user.email, passwords.hash_password(password), changed_by=f"console:{user.email}"
        )
    session = await svc.sessions.create(user.email, "password")
    return _start_session(request, session, _next(request, str(form.get("next") or "")))


@router.post("/logout")
async def logout(request: Request, v: Viewer = Depends(viewer)) -> Response:
    form = await request.form()
    token = form.get(FIELD)
    if not services(request).csrf.valid(token if isinstance(token, str) else None, v.session.csrf_nonce):
        raise Forbidden("the form's CSRF token is missing or wrong")
    await services(request).sessions.delete(v.session.sid)
    response = RedirectResponse(f"{_root(request)}/login", status_code=303)
    response.delete_cookie(COOKIE, path=_root(request) or "/")
    return response


@router.get("/sso/login")
async def sso_login(request: Request) -> Response:
    settings = services(request).settings
    if not settings.oidc_enabled:
        raise Forbidden("single sign-on is not configured")
    return await oidc.client(settings).authorize_redirect(request, str(request.url_for("sso_callback")))


@router.get("/sso/callback", name="sso_callback")
async def sso_callback(request: Request) -> Response:
    svc = services(request)
    if not svc.settings.oidc_enabled:
        raise Forbidden("single sign-on is not configured")
    try:
        token = await oidc.client(svc.settings).authorize_access_token(request)
        claims = dict(token.get("userinfo") or {})
        found = oidc.identity(claims, svc.settings)
    except oidc.SsoRefused as exc:
        return _form(request, error=f"Single sign-on refused: {exc}.", status=403)
    except Exception:  # Authlib's errors: state mismatch, a bad token, the IdP unreachable
        return _form(request, error="Single sign-on failed; please try again.", status=502)
    changed_by = f"oidc:{svc.settings.oidc_issuer}"
    user = await get_user(svc.pool, found.email)
    if user is None:
        user = await create_user(
            svc.pool,
            found.email,
            found.role,
            customer=found.customer,
            operator=found.customer is None,
            display_name=found.name,
            changed_by=changed_by,
            record_source="console",
        )
    elif user.customer != found.customer or user.status != "active":
        return _form(request, error=GENERIC, status=403)
    elif user.role != found.role:
        user = await update_user(
            svc.pool, user.email, role=found.role, changed_by=changed_by, record_source="console"
        )
    session = await svc.sessions.create(user.email, "oidc")
    return _start_session(request, session, f"{_root(request)}/overview")
