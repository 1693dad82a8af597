"""One real gateway per test module with the console mounted (uvicorn in a thread, as in
tests/gateway/e2e), a fresh vault with two customers and their console users, and helpers to
log in over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from gateway.admin.console_users import create_user
from gateway.admin.customers import CustomerConfig, create_customer
from gateway.admin.keys import create_gateway_key
from gateway.app import GatewayConfig, create_app
from gateway.console.settings import console_settings
from gateway.simulator import SimulatorServer
from tests.conftest import free_port
from tests.gateway import conftest as gateway_fixtures
from tests.gateway.e2e.conftest import ServerThread, gateway_settings, write_catalog, write_prices
from warehouse.db import create_pool
from warehouse.embedded import RedisEndpoint

simulator_server = gateway_fixtures.simulator_server
_counter = itertools.count()
PASSWORD = "correct horse battery staple"

# (email, role, customer or None for an operator)
USERS = (
    ("admin@acme.test", "admin", "acme"),
    ("dev@acme.test", "developer", "acme"),
    ("viewer@acme.test", "viewer", "acme"),
    ("admin@globex.test", "admin", "globex"),
    ("ops@platform.test", "admin", None),
)
LOCKOUT_FAILURES = 3


@dataclass
class Console:
    url: str  # the gateway's base URL; the console is at url + "/console"
    pool: asyncpg.Pool
    key: str  # an acme gateway key (for traffic)
    key_id: str
    dsn: str
    redis_url: str

    @property
    def base(self) -> str:
        return f"{self.url}/console"


async def seed(pool: asyncpg.Pool) -> tuple[str, str]:
    """Two customers with a key each, and the console users of ``USERS``; returns acme's key."""
    for slug in ("acme", "globex"):
        await create_customer(pool, slug, CustomerConfig(display_name=slug.title()), changed_by="t")
    issued = await create_gateway_key(pool, "acme", changed_by="t", label="seed")
    await create_gateway_key(pool, "globex", changed_by="t", label="globex-secret-label")
    for email, role, customer in USERS:
        await create_user(
            pool, email, role, customer=customer, operator=customer is None, password=PASSWORD, changed_by="t"
        )
    return issued.key, issued.key_id


@contextlib.asynccontextmanager
async def serve_console(
    dsn: str, redis_url: str, sim_url: str, home: Path, env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """A gateway (console mounted) over real HTTP; ``env``: ONEVAULT_CONSOLE_* settings."""
    settings = gateway_settings(home, prices_file=write_prices(home))
    config = GatewayConfig(settings, dsn, redis_url, write_catalog(home, sim_url))
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "ONEVAULT_CONSOLE_LOCKOUT_FAILURES": str(LOCKOUT_FAILURES),
            "ONEVAULT_CONSOLE_LOCKOUT_S": "60",
            # every test logs in from 127.0.0.1: the per-address throttle is tested on its own
            "ONEVAULT_CONSOLE_LOGIN_FAILURES_PER_MINUTE": "1000",
            **(env or {}),
        }.items():
            patch.setenv(name, value)
        console_settings.cache_clear()
        app = create_app(config)
    console_settings.cache_clear()
    server = await asyncio.to_thread(ServerThread(app, free_port()).start)
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.stop)


@pytest.fixture(scope="module")
async def console(
    module_dsn: str,
    redis_server: RedisEndpoint,
    simulator_server: SimulatorServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Console]:
    pool = await create_pool(module_dsn, min_size=1, max_size=4)
    try:
        key, key_id = await seed(pool)
        home = tmp_path_factory.mktemp("console-home")
        async with serve_console(module_dsn, redis_server.url, simulator_server.url, home) as url:
            yield Console(url, pool, key, key_id, module_dsn, redis_server.url)
    finally:
        await pool.close()


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@contextlib.asynccontextmanager
async def login(c: Console, email: str, password: str = PASSWORD) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client logged in to the console (fails the test if the login fails)."""
    async with httpx.AsyncClient(base_url=c.base, timeout=30) as client:
        form = await client.get("/login")
        answer = await client.post(
            "/login", data={"email": email, "password": password, "csrf_token": csrf_of(form.text)}
        )
        assert answer.status_code == 303, f"login of {email} failed: {answer.status_code}"
        yield client


def redis_url(c: Console) -> str:
    return c.redis_url
