"""Fixtures of the upstream and secret tests: the e2e gateway (this folder sits outside
tests/gateway, so its fixtures are brought in here) and a factory for a gateway with its own
settings on the same vault (another KEK ring, smaller upstream bounds)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from gateway.app import GatewayConfig, create_app
from gateway.simulator import SimulatorServer
from tests.gateway.conftest import sim, simulator_server  # noqa: F401
from tests.gateway.e2e.conftest import ServerThread, gateway, gateway_settings, write_catalog  # noqa: F401
from warehouse.embedded import RedisEndpoint

StartGateway = Callable[..., Awaitable[ServerThread]]


@pytest.fixture
async def start_gateway(
    vault_dsn: str,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,  # noqa: F811
    tmp_path: Path,
    port_picker: Callable[[], int],
) -> AsyncIterator[StartGateway]:
    """``await start_gateway(home, **settings)``: another gateway on the test's vault and Redis."""
    started: list[ServerThread] = []

    async def start(home: Path | None = None, **overrides: object) -> ServerThread:
        home = home or tmp_path / f"gw{len(started)}"
        home.mkdir(parents=True, exist_ok=True)
        settings = gateway_settings(home, **overrides)
        config = GatewayConfig(settings, vault_dsn, redis_server.url, write_catalog(home, sim.url))
        server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
        started.append(server)
        return server

    yield start
    for server in started:
        await asyncio.to_thread(server.stop)
