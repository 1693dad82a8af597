"""Fixtures of the security tests: the gateway and simulator fixtures of tests/gateway (this folder
sits outside it, so they are brought in here) and one factory for a real gateway with the test's
own settings, catalog or Redis on the test's vault."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.app import GatewayConfig, create_app
from gateway.cli.up import simulator_catalog
from gateway.simulator import SimulatorServer
from tests.gateway.conftest import sim, simulator_server  # noqa: F401
from tests.gateway.e2e.conftest import (  # noqa: F401
    ServerThread,
    forget_shared_state,
    gateway,
    gateway_settings,
    write_prices,
)
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
    """``await start_gateway(home=None, redis_url=None, catalog=None, providers=None, **settings)``:
    a gateway whose providers are the simulator's (plus ``providers``, their ``base_url`` the
    simulator's unless given; or ``catalog`` instead),
    on the session's Redis unless ``redis_url`` says otherwise; stopped at teardown."""
    await forget_shared_state(redis_server)
    started: list[ServerThread] = []

    async def start(
        home: Path | None = None,
        *,
        redis_url: str | None = None,
        catalog: Path | None = None,
        providers: list[dict[str, Any]] | None = None,
        **overrides: object,
    ) -> Started:
        home = home or tmp_path / f"gw{len(started)}"
        home.mkdir(parents=True, exist_ok=True)
        if catalog is None:
            doc = simulator_catalog(sim.url)
            doc["providers"] += [{"base_url": f"{sim.url}/v1", **p} for p in providers or []]
            catalog = home / "providers.json"
            catalog.write_text(json.dumps(doc))
        overrides.setdefault("prices_file", write_prices(home))
        settings = gateway_settings(home, **overrides)
        config = GatewayConfig(settings, vault_dsn, redis_url or redis_server.url, catalog)
        server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
        started.append(server)
        return Started(server.url, settings)

    yield start
    for server in started:
        await asyncio.to_thread(server.stop)
