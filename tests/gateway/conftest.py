"""Fixtures for provider adapter and simulator tests: one simulator per session, reset per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.providers.base import ProviderEndpoint
from gateway.providers.http import UpstreamClient, create_http_client
from gateway.simulator import SimulatorConfig, SimulatorServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
SECRET_KEY = "sk-test-SECRET-0123456789"


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[SimulatorServer]:
    server = SimulatorServer(SimulatorConfig(timeout_fault_s=5.0)).start()
    yield server
    server.stop()


@pytest.fixture
def sim(simulator_server: SimulatorServer) -> SimulatorServer:
    """The shared simulator with no faults, no stats and its starting config."""
    simulator_server.simulator.reset()
    return simulator_server


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    """The pooled provider client, as the gateway builds it (minus the environment)."""
    http = create_http_client(trust_env=False)
    yield http
    await http.aclose()


@pytest.fixture(scope="session")
def secret_key() -> str:
    """A key distinctive enough to search for in error messages and reprs."""
    return SECRET_KEY


@pytest.fixture
def sim_endpoint(sim: SimulatorServer) -> Callable[..., ProviderEndpoint]:
    """Factory: an endpoint for an api_style pointed at the simulator, as ``onevault up`` writes it."""

    def make(
        api_style: str, *, api_key: str = SECRET_KEY, timeout_s: float = 10.0, **extra: Any
    ) -> ProviderEndpoint:
        base = f"{sim.url}/v1" if api_style in ("openai", "openai_compatible") else sim.url
        return ProviderEndpoint(api_style, base, api_key, timeout_s=timeout_s, **extra)

    return make


@pytest.fixture(scope="session")
def provider_fixture() -> Callable[[str], bytes]:
    """Loader for recorded provider bodies in tests/fixtures/providers/."""

    def load(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return load
