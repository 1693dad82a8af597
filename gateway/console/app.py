"""The console as an ASGI app of its own, mounted by the gateway at ``/console``.

A sub-application so its HTML error pages, static files and the OpenID Connect flow's state
cookie stay out of the API: no route or middleware of the gateway's hot path changes. It shares
the gateway's pools and Redis (read from the gateway's state at request time, because they are
made by the gateway's lifespan).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from gateway.console.auth.csrf import CsrfSigner
from gateway.console.auth.login_guard import LoginGuard
from gateway.console.auth.sessions import SessionStore
from gateway.console.deps import ConsoleServices, Forbidden, LoginRequired, NotFound
from gateway.console.pages import (
    audit_exports,
    budgets,
    invoices,
    keys,
    login,
    operator,
    overview,
    performance,
    provider_keys,
    requests,
    rules,
    spend,
    users,
)
from gateway.console.pages import settings as settings_page
from gateway.console.render import render
from gateway.console.settings import ConsoleSettings, console_settings
from gateway.crypto.keyring import auth_cache_key
from warehouse.settings import Settings

PAGES = (
    login,
    overview,
    spend,
    requests,
    performance,
    keys,
    provider_keys,
    rules,
    budgets,
    invoices,
    audit_exports,
    settings_page,
    users,
    operator,
)


# The console's pages: no framing (clickjacking), scripts and styles from the console itself
# (charts' SVG carries its own <style>), no sniffing, no referrer leaving the site.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class _Services:
    """Builds the console's services once the gateway's lifespan has made its pool and Redis."""

    def __init__(self, secret: bytes, settings: ConsoleSettings, gateway_settings: Settings) -> None:
        self.secret, self.settings, self.gateway_settings = secret, settings, gateway_settings
        self._built: ConsoleServices | None = None

    def __call__(self, state: Any) -> ConsoleServices:
        built = self._built
        if built is None or built.redis is not state.redis:
            s = self.settings
            built = self._built = ConsoleServices(
                pool=state.pool,
                redis=state.redis,
                state=state,
                settings=s,
                gateway_settings=self.gateway_settings,
                sessions=SessionStore(state.redis, idle_s=s.session_idle_s, absolute_s=s.session_absolute_s),
                guard=LoginGuard(
                    state.redis,
                    per_minute=s.login_failures_per_minute,
                    lockout_failures=s.lockout_failures,
                    lockout_s=s.lockout_s,
                ),
                csrf=CsrfSigner(self.secret),
            )
        return built


def create_console(gateway: FastAPI, settings: Settings, console: ConsoleSettings | None = None) -> FastAPI:
    cs = console or console_settings()
    secret = hashlib.sha256(b"onevault-console|" + auth_cache_key(settings)).digest()
    app = FastAPI(title="OneVault console", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.gateway = gateway
    app.state.console_services = _Services(secret, cs, settings)
    app.state.console_settings = cs
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    for page in PAGES:
        app.include_router(page.router)
    if cs.oidc_enabled:
        # Only the single sign-on round trip's state (nonce, where to return) lives here.
        app.add_middleware(
            SessionMiddleware,
            secret_key=hashlib.sha256(b"onevault-console-oidc|" + secret).hexdigest(),
            session_cookie="ov_console_sso",
            path="/console",
            max_age=600,
            same_site="lax",
            https_only=bool(cs.cookie_secure),
        )
    _errors(app)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        # The page's server time (queries and rendering), for the browser's devtools and benchmarks.
        response.headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        if not request.url.path.startswith(f"{request.scope.get('root_path', '')}/static/"):
            response.headers.setdefault("cache-control", "no-store")  # pages show tenant data
        return response

    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        root = request.scope.get("root_path", "")
        if request.method != "GET":
            return render(
                request,
                "error.html",
                None,
                status_code=401,
                title="Logged out",
                message="Your session has ended; log in again.",
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{root}/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> HTMLResponse:
        return render(request, "error.html", None, status_code=403, title="Not allowed", message=str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        title = "Not found" if exc.status_code == 404 else "Not allowed"
        return render(
            request, "error.html", None, status_code=exc.status_code, title=title, message=str(exc.detail)
        )

    @app.exception_handler(NotFound)
    async def _missing(request: Request, exc: NotFound) -> HTMLResponse:
        return render(
            request,
            "error.html",
            None,
            status_code=404,
            title="Not found",
            message=str(exc) or "There is nothing here.",
        )
