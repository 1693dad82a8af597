"""Fixtures of the tenant-isolation tests: the provider simulator (this folder sits outside
tests/gateway, so its fixtures are brought in here) and a factory for a real gateway with its own
settings on the test's vault and the session's Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.app import GatewayConfig, create_app
from gateway.simulator import SimulatorServer
from tests.gateway.conftest import sim, simulator_server  # noqa: F401
from tests.gateway.e2e.conftest import ServerThread, forget_shared_state, gateway_settings, write_catalog
from warehouse.embedded import RedisEndpoint
from warehouse.settings import Settings


@dataclass(frozen=True, slots=True)
class Started:
    url: str
    settings: Settings  # its home holds the master key that seals customers' provider keys


StartGateway = Callable[..., Awaitable[Started]]


@pytest.fixture
async def start_gateway(
    vault_dsn: str,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,  # noqa: F811
    tmp_path: Path,
    port_picker: Callable[[], int],
) -> AsyncIterator[StartGateway]:
    """``await start_gateway(catalog=None, **settings)``: a gateway whose providers are all the
    simulator (``catalog``: a provider catalog of the test's own instead of ``onevault up``'s)."""
    await forget_shared_state(redis_server)
    started: list[ServerThread] = []

    async def start(catalog: Path | None = None, **overrides: object) -> Started:
        home = tmp_path / f"gw{len(started)}"
        home.mkdir()
        settings = gateway_settings(home, **overrides)
        catalog = catalog or write_catalog(home, sim.url)
        config = GatewayConfig(settings, vault_dsn, redis_server.url, catalog)
        server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
        started.append(server)
        return Started(server.url, settings)

    yield start
    for server in started:
        await asyncio.to_thread(server.stop)
