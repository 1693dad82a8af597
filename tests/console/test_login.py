"""Logging in to the console over HTTP: password, generic refusals, lockout, CSRF, sessions."""

from __future__ import annotations

import httpx
import pytest

from gateway.console.auth.sessions import COOKIE
from tests.console.conftest import LOCKOUT_FAILURES, PASSWORD, Console, csrf_of, login

pytestmark = pytest.mark.timeout(120)


async def _attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_of(form.text)}
    )


async def test_login_sets_a_safe_session_cookie_and_opens_the_overview(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.base) as client:
        answer = await _attempt(client, "Admin@Acme.test", PASSWORD)  # e-mail is case-insensitive
        assert answer.status_code == 303 and answer.headers["location"].endswith("/console/overview")
        cookie = answer.headers["set-cookie"]
        assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Path=/console" in cookie
        page = await client.get("/overview")
        assert page.status_code == 200 and "admin@acme.test" in page.text


async def test_pages_need_a_login(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.base) as client:
        answer = await client.get("/keys")
        assert answer.status_code == 303 and "/console/login?next=" in answer.headers["location"]
        assert (await client.post("/keys", data={"label": "x"})).status_code == 401


async def test_wrong_password_unknown_user_and_lockout_get_one_generic_error(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.base) as client:
        unknown = await _attempt(client, "nobody@acme.test", "whatever-password")
        wrong = await _attempt(client, "dev@acme.test", "not the password")
        assert unknown.status_code == wrong.status_code == 401
        message = "Wrong e-mail address or password, or the account is locked or disabled."
        assert message in unknown.text and message in wrong.text
        for _ in range(LOCKOUT_FAILURES - 1):
            await _attempt(client, "dev@acme.test", "not the password")
        locked = await _attempt(client, "dev@acme.test", PASSWORD)  # the right password, but locked
        assert locked.status_code == 401 and message in locked.text
        assert f"{COOKIE}=" not in locked.headers.get("set-cookie", "")
    await console_redis_unlock(console, "dev@acme.test")


async def console_redis_unlock(console: Console, email: str) -> None:
    """Tests after this one log in as the locked user: clear its counter as its expiry would."""
    import hashlib

    import redis.asyncio as aioredis

    from tests.console.conftest import redis_url

    redis = aioredis.Redis.from_url(redis_url(console))
    await redis.delete("ov:console:fails:" + hashlib.sha256(email.encode()).hexdigest())
    await redis.aclose()


async def test_login_and_changes_need_the_csrf_token(console: Console) -> None:
    async with httpx.AsyncClient(base_url=console.base) as client:
        await client.get("/login")
        refused = await client.post("/login", data={"email": "admin@acme.test", "password": PASSWORD})
        assert refused.status_code == 403
    async with login(console, "admin@acme.test") as client:
        assert (await client.post("/keys", data={"label": "no token"})).status_code == 403
        bad = await client.post("/keys", data={"label": "forged", "csrf_token": "x.y.z"})
        assert bad.status_code == 403
        keys = await client.get("/keys")
        assert "forged" not in keys.text


async def test_logout_ends_the_session_server_side(console: Console) -> None:
    async with login(console, "viewer@acme.test") as client:
        page = await client.get("/overview")
        sid = client.cookies.get(COOKIE)
        out = await client.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
    async with httpx.AsyncClient(base_url=console.base, cookies={COOKIE: sid}) as replay:
        assert (await replay.get("/overview")).status_code == 303  # the old cookie is worthless


async def test_a_disabled_user_is_logged_out_at_the_next_request(console: Console) -> None:
    from gateway.admin.console_users import create_user, update_user

    await create_user(
        console.pool, "leaver@acme.test", "viewer", customer="acme", password=PASSWORD, changed_by="t"
    )
    async with login(console, "leaver@acme.test") as client:
        assert (await client.get("/overview")).status_code == 200
        await update_user(console.pool, "leaver@acme.test", status="disabled", changed_by="t")
        assert (await client.get("/overview")).status_code == 303


async def test_the_console_root_leads_to_the_login(console: Console) -> None:
    async with httpx.AsyncClient(follow_redirects=True) as client:
        for url in (console.base, f"{console.base}/"):
            answer = await client.get(url)
            assert answer.status_code == 200 and str(answer.url).startswith(f"{console.base}/login"), url
            assert "Log in to the OneVault console" in answer.text


async def test_an_unknown_console_page_is_an_html_404(console: Console) -> None:
    async with login(console, "viewer@acme.test") as client:
        answer = await client.get("/no-such-page")
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
