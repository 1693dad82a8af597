"""Session-wide real servers: one embedded PostgreSQL and one Redis per test session.

Each test that needs the vault gets a fresh database cloned from a migrated template
(pytest-postgresql's DatabaseJanitor against our running server: its own process fixtures
cannot run PostgreSQL as root, STACK.md trap 4).
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from pytest_postgresql.janitor import DatabaseJanitor

from warehouse.db import connect, create_pool
from warehouse.embedded import EmbeddedPostgres, EmbeddedRedis, PostgresEndpoint, RedisEndpoint
from warehouse.migrations import migrate

TEMPLATE_DB = "ov_template"
_db_counter = itertools.count()


# Whole areas that start processes, build the warehouse or inject faults under load: ``slow``
# (``make test`` runs everything; ``make test-fast`` the rest). A module elsewhere may mark
# itself ``pytest.mark.slow`` too.
SLOW_AREAS = (
    "tests/faults/",
    "tests/deploy/",
    "tests/dbt/",
    "tests/dagster/",
    "tests/audit/",
    "tests/security/first_boot/",
    "tests/console/test_browser.py",
    "tests/console/data/",  # builds the warehouse
    "tests/gateway/e2e/test_schema_fuzz.py",  # property-based fuzzing of both APIs
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``--dist loadgroup``, set in pyproject.toml) a file's tests run on one
    worker, so module-scoped fixtures (a built warehouse, a gateway) are set up once. A module
    marked ``xdist_group`` shares its worker with the others of that group instead (e.g. those
    that write the repository's dbt target)."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(path))
        if path.startswith(SLOW_AREAS):
            item.add_marker(pytest.mark.slow)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def onevault_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ovhome")


@pytest.fixture(scope="session")
def pg_server(onevault_home: Path) -> Iterator[PostgresEndpoint]:
    server = EmbeddedPostgres(onevault_home, port=free_port())
    endpoint = server.ensure_running()
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def redis_server(onevault_home: Path) -> Iterator[RedisEndpoint]:
    server = EmbeddedRedis(onevault_home, port=free_port())
    endpoint = server.ensure_running()
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
async def vault_template(pg_server: PostgresEndpoint) -> str:
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(f"drop database if exists {TEMPLATE_DB}")
        await admin.execute(f"create database {TEMPLATE_DB}")
    finally:
        await admin.close()
    conn = await connect(pg_server.dsn(TEMPLATE_DB))
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return TEMPLATE_DB


def _janitor(pg: PostgresEndpoint, dbname: str, template: str | None) -> DatabaseJanitor:
    return DatabaseJanitor(
        user="postgres",
        host=str(pg.socket_dir),
        port=pg.port,
        version=16,
        dbname=dbname,
        template_dbname=template,
    )


@pytest.fixture
def fresh_database(pg_server: PostgresEndpoint) -> Iterator[str]:
    """An empty (unmigrated) database's DSN."""
    name = f"ov_empty_{os.getpid()}_{next(_db_counter)}"
    with _janitor(pg_server, name, None):
        yield pg_server.dsn(name)


@pytest.fixture(scope="module")
def module_dsn(pg_server: PostgresEndpoint, vault_template: str) -> Iterator[str]:
    """A migrated vault database shared by one test module (a built warehouse, a console)."""
    name = f"ov_mod_{os.getpid()}_{next(_db_counter)}"
    with _janitor(pg_server, name, vault_template):
        yield pg_server.dsn(name)


@pytest.fixture
def vault_dsn(pg_server: PostgresEndpoint, vault_template: str) -> Iterator[str]:
    """A freshly migrated database's DSN, private to one test."""
    name = f"ov_test_{os.getpid()}_{next(_db_counter)}"
    with _janitor(pg_server, name, vault_template):
        yield pg_server.dsn(name)


@pytest.fixture
async def vault_pool(vault_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(vault_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def redis_client(redis_server: RedisEndpoint) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def port_picker() -> Callable[[], int]:
    """``free_port`` as a fixture."""
    return free_port
