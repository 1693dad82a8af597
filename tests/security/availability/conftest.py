"""Fixtures of the request-path availability tests: the e2e gateway (this folder sits outside
tests/gateway, so its fixtures are brought in here), a factory for a gateway with its own
settings and catalog, and helpers to call it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
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


@dataclass(frozen=True)
class Started:
    url: str
    settings: Settings  # its home holds the admin token (gateway.crypto.keyring.admin_token)


StartGateway = Callable[..., Awaitable[Started]]


@pytest.fixture
async def start_gateway(
    vault_dsn: str,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,  # noqa: F811
    tmp_path: Path,
    port_picker: Callable[[], int],
) -> AsyncIterator[StartGateway]:
    """``await start_gateway(providers=[...], **settings)``: a gateway on the test's vault, with
    the simulator's catalog plus ``providers`` (their ``base_url`` defaults to the simulator's)."""
    await forget_shared_state(redis_server)
    started: list[ServerThread] = []

    async def start(providers: list[dict[str, Any]] | None = None, **overrides: object) -> Started:
        home = tmp_path / f"gw{len(started)}"
        home.mkdir()
        catalog = simulator_catalog(sim.url)
        catalog["providers"] += [{"base_url": f"{sim.url}/v1", **p} for p in providers or []]
        (home / "providers.json").write_text(json.dumps(catalog))
        overrides.setdefault("prices_file", write_prices(home))
        settings = gateway_settings(home, **overrides)
        config = GatewayConfig(settings, vault_dsn, redis_server.url, home / "providers.json")
        server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
        started.append(server)
        return Started(server.url, settings)

    yield start
    for server in started:
        await asyncio.to_thread(server.stop)


async def complete(url: str, key: str, timeout: float = 30, **body: Any) -> httpx.Response:
    """POST /v1/ai/completions (``gpt-4o-mini`` unless ``model`` is given)."""
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
        return await http.post(
            "/v1/ai/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "gpt-4o-mini", **body},
        )
