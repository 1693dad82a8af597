"""A real gateway over real HTTP: uvicorn in a thread, the session's PostgreSQL and Redis, a
fresh vault database per test, and the simulator as every provider (as ``onevault up`` wires it).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI
from typer.testing import CliRunner, Result

from gateway.admin.customers import CustomerConfig, create_customer
from gateway.admin.keys import create_gateway_key
from gateway.app import GatewayConfig, create_app
from gateway.cli.main import app as cli_app
from gateway.cli.up import simulator_catalog
from gateway.simulator import SimulatorServer
from warehouse.embedded import RedisEndpoint
from warehouse.settings import Settings, get_settings


class ServerThread:
    """Serve an ASGI app on loopback from a background thread, with its own event loop."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.port = port
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("gateway did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@dataclass
class Gateway:
    url: str
    key: str
    customer: str
    key_id: str
    settings: Settings
    sim: SimulatorServer


def write_catalog(home: Path, sim_url: str) -> Path:
    path = home / "providers.json"
    path.write_text(json.dumps(simulator_catalog(sim_url)))
    return path


# Models the tests send that genai-prices does not list (the simulator serves any name): priced
# here, as an operator would, because an unpriced model is refused (docs/security/money.md).
SIMULATOR_ONLY_PRICES = [
    {
        "provider": "gemini",
        "model": "gemini-2.5-flash-thinking",
        "input_per_mtok": "0.30",
        "output_per_mtok": "2.50",
    },
    {
        "provider": "cohere",
        "model": "command-a-vision-07-2025",
        "input_per_mtok": "2.50",
        "output_per_mtok": "10",
    },
]


def write_prices(home: Path) -> Path:
    path = home / "prices.json"
    path.write_text(json.dumps({"prices": SIMULATOR_ONLY_PRICES}))
    return path


def gateway_settings(home: Path, **overrides: object) -> Settings:
    overrides.setdefault("egress_allow", "127.0.0.1")  # local receivers and endpoints, as an operator allows
    return Settings(
        home=home,
        event_stream=f"test:{uuid.uuid4().hex}",
        loader_block_ms=50,
        loader_linger_ms=20,
        **overrides,
    )


async def issue_key(pool: asyncpg.Pool, customer: str = "acme", **config: object) -> tuple[str, str]:
    config_ = CustomerConfig(display_name=customer.title(), **config)  # type: ignore[arg-type]
    await create_customer(pool, customer, config_, changed_by="t")
    issued = await create_gateway_key(pool, customer, changed_by="t", label="e2e")
    return issued.key, issued.key_id


async def forget_shared_state(redis_server: RedisEndpoint) -> None:
    """Circuit-breaker state is per provider and model, and rate counters (minute, hour, month)
    per customer name, not per test: start each test closed and uncounted."""
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        keys = [k for pattern in ("ov:cb:*", "ov:rl:*") async for k in redis.scan_iter(pattern)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def gateway(
    vault_dsn: str,
    vault_pool: asyncpg.Pool,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,
    tmp_path: Path,
    port_picker: Callable[[], int],
) -> AsyncIterator[Gateway]:
    key, key_id = await issue_key(vault_pool)
    await forget_shared_state(redis_server)
    settings = gateway_settings(tmp_path, prices_file=write_prices(tmp_path))
    config = GatewayConfig(settings, vault_dsn, redis_server.url, write_catalog(tmp_path, sim.url))
    server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
    yield Gateway(server.url, key, "acme", key_id, settings, sim)
    await asyncio.to_thread(server.stop)


# Requests the gateway recorded: every hub also holds the all-zero ghost key, which is not one.
REAL_REQUESTS = (
    "select count(*) from raw_vault.hub_api_request where api_request_hk <> decode(repeat('00', 32), 'hex')"
)


async def wait_for_rows(pool: asyncpg.Pool, sql: str, expected: int, timeout: float = 20.0) -> int:
    """Poll until the vault holds ``expected`` rows (the loader is asynchronous by design)."""
    deadline = time.monotonic() + timeout
    while True:
        n = await pool.fetchval(sql)
        if n >= expected or time.monotonic() > deadline:
            return n
        await asyncio.sleep(0.05)


@pytest.fixture
def cli(
    gateway: Gateway, vault_dsn: str, redis_server: RedisEndpoint, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """The ``onevault`` CLI pointed at the same vault, Redis and home (master key) as the gateway."""
    monkeypatch.setenv("ONEVAULT_DATABASE_URL", vault_dsn)
    monkeypatch.setenv("ONEVAULT_REDIS_URL", redis_server.url)
    monkeypatch.setenv("ONEVAULT_HOME", str(gateway.settings.home))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def run(cli: CliRunner, *args: str, stdin: str | None = None) -> Result:
    # The CLI runs its own event loop, so it cannot share the test's.
    return await asyncio.to_thread(cli.invoke, cli_app, list(args), input=stdin)
