"""Fault-injection fixtures: one provider simulator for the folder, a fresh vault per test (from
tests/conftest.py), and a factory for an in-process gateway wired to whichever PostgreSQL and
Redis the test breaks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from gateway.app import GatewayConfig, create_app
from gateway.simulator import SimulatorConfig, SimulatorServer
from tests.faults.faultkit import fault_settings, write_catalog
from tests.gateway.e2e.conftest import ServerThread
from warehouse.db import connect
from warehouse.embedded import EmbeddedPostgres, EmbeddedRedis
from warehouse.migrations import migrate
from warehouse.settings import Settings

StartGateway = Callable[..., Awaitable[ServerThread]]


@pytest.fixture(scope="session")
def fault_sim() -> Iterator[SimulatorServer]:
    # A hung upstream stalls 3 s: longer than the catalog timeouts the upstream tests set.
    server = SimulatorServer(SimulatorConfig(timeout_fault_s=3.0)).start()
    yield server
    server.stop()


@pytest.fixture
def sim(fault_sim: SimulatorServer) -> SimulatorServer:
    fault_sim.simulator.reset()
    return fault_sim


@pytest.fixture
async def start_gateway(
    tmp_path: Path, sim: SimulatorServer, port_picker: Callable[[], int]
) -> AsyncIterator[StartGateway]:
    """``await start_gateway(dsn, redis_url, settings=..., catalog=...)``: stopped at teardown."""
    started: list[ServerThread] = []

    async def start(
        dsn: str, redis_url: str, *, settings: Settings | None = None, catalog: Path | None = None
    ) -> ServerThread:
        config = GatewayConfig(
            settings or fault_settings(tmp_path), dsn, redis_url, catalog or write_catalog(tmp_path, sim.url)
        )
        server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
        started.append(server)
        return server

    yield start
    for server in started:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def own_postgres(
    tmp_path: Path, port_picker: Callable[[], int]
) -> AsyncIterator[tuple[EmbeddedPostgres, str]]:
    """A migrated PostgreSQL of the test's own, to stop or freeze (the session's is shared)."""
    pg = EmbeddedPostgres(tmp_path / "pg", port=port_picker())
    dsn = (await asyncio.to_thread(pg.ensure_running)).dsn()
    try:
        conn = await connect(dsn)
        await migrate(conn)
        await conn.close()
        yield pg, dsn
    finally:
        await asyncio.to_thread(pg.stop)


@pytest.fixture
def own_redis(tmp_path: Path, port_picker: Callable[[], int]) -> Iterator[EmbeddedRedis]:
    """A Redis of the test's own, to restart or freeze (the session's is shared)."""
    server = EmbeddedRedis(tmp_path / "redis-home", port=port_picker())
    server.ensure_running()
    yield server
    server.stop()
