"""Single sign-on over OpenID Connect against a real in-process identity provider
(oidc-provider-mock): the code flow through Authlib, groups mapped to a role and customer, the
console user created on first login, refused when no group is mapped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from oidc_provider_mock import User, run_server_in_thread

from gateway.admin.console_users import get_user
from gateway.simulator import SimulatorServer
from tests.console.conftest import Console, seed, serve_console
from warehouse.db import create_pool
from warehouse.embedded import RedisEndpoint

pytestmark = pytest.mark.timeout(120)
GROUPS = '{"acme-finance": "viewer@acme", "acme-eng": "developer@acme", "platform": "admin@operator"}'


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    users = [
        User(
            sub="fin", claims={"email": "finance@acme.test", "name": "Fin Lead", "groups": ["acme-finance"]}
        ),
        User(sub="eng", claims={"email": "eng@acme.test", "groups": ["acme-finance", "acme-eng"]}),
        User(sub="stranger", claims={"email": "stranger@else.test", "groups": ["unmapped"]}),
    ]
    with run_server_in_thread(user_claims=users) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
async def sso_console(
    module_dsn: str,
    redis_server: RedisEndpoint,
    simulator_server: SimulatorServer,
    idp: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Console]:
    pool = await create_pool(module_dsn, min_size=1, max_size=4)
    env = {
        "ONEVAULT_CONSOLE_OIDC_ISSUER": idp,
        "ONEVAULT_CONSOLE_OIDC_CLIENT_ID": "onevault-console",
        "ONEVAULT_CONSOLE_OIDC_CLIENT_SECRET": "console-secret",
        "ONEVAULT_CONSOLE_OIDC_GROUPS": GROUPS,
    }
    try:
        key, key_id = await seed(pool)
        home = tmp_path_factory.mktemp("sso-home")
        async with serve_console(module_dsn, redis_server.url, simulator_server.url, home, env) as url:
            yield Console(url, pool, key, key_id, module_dsn, redis_server.url)
    finally:
        await pool.close()


async def sso_login(c: Console, client: httpx.AsyncClient, sub: str) -> httpx.Response:
    """The code flow as a browser follows it: console → IdP (the user picks ``sub``) → callback."""
    start = await client.get("/sso/login")
    assert start.status_code in (302, 303, 307), start.text
    authorize = start.headers["location"]
    async with httpx.AsyncClient(timeout=30) as browser:
        consent = await browser.post(authorize, data={"sub": sub})
    assert consent.status_code in (302, 303), consent.text[:500]
    callback = consent.headers["location"]
    assert callback.startswith(f"{c.base}/sso/callback")
    return await client.get(callback)


async def test_a_mapped_group_logs_in_with_its_role_and_customer(sso_console: Console) -> None:
    async with httpx.AsyncClient(base_url=sso_console.base, timeout=30) as client:
        answer = await sso_login(sso_console, client, "fin")
        assert answer.status_code == 303 and answer.headers["location"].endswith("/console/overview"), (
            answer.text
        )
        page = await client.get("/overview")
        assert page.status_code == 200 and "finance@acme.test · viewer · acme" in page.text
    user = await get_user(sso_console.pool, "finance@acme.test")
    assert (
        user is not None and user.role == "viewer" and user.customer == "acme" and user.password_hash is None
    )


async def test_the_highest_role_of_the_users_groups_wins(sso_console: Console) -> None:
    async with httpx.AsyncClient(base_url=sso_console.base, timeout=30) as client:
        answer = await sso_login(sso_console, client, "eng")
        assert answer.status_code == 303
        keys = await client.get("/keys")
        assert 'action="/console/keys"' in keys.text  # a developer's controls


async def test_a_user_without_a_mapped_group_is_refused(sso_console: Console) -> None:
    async with httpx.AsyncClient(base_url=sso_console.base, timeout=30) as client:
        answer = await sso_login(sso_console, client, "stranger")
        assert answer.status_code == 403 and "none of your groups" in answer.text
    assert await get_user(sso_console.pool, "stranger@else.test") is None


async def test_the_login_page_offers_single_sign_on(sso_console: Console) -> None:
    async with httpx.AsyncClient(base_url=sso_console.base) as client:
        assert "Log in with single sign-on" in (await client.get("/login")).text
