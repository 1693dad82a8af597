"""Fixtures for warehouse tests: a vault database per module (a dbt build takes seconds, so a
module loads its data once and builds once), a dbt runner, and the gateway e2e fixtures
(real gateway over HTTP + the provider simulator) borrowed from tests/gateway."""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from warehouse.db import create_pool
from warehouse.dbt import dbt_args, dbt_env
from warehouse.embedded import PostgresEndpoint

DBT = str(Path(sys.executable).with_name("dbt"))
TESTS = Path(__file__).resolve().parents[1]
_counter = itertools.count()


def _borrow(name: str, path: Path) -> ModuleType:
    """Load another folder's conftest under a unique name (test folders are not packages)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_gateway_fixtures = _borrow("ov_tests_gateway_conftest", TESTS / "gateway" / "conftest.py")
_e2e_fixtures = _borrow("ov_tests_gateway_e2e_conftest", TESTS / "gateway" / "e2e" / "conftest.py")
simulator_server = _gateway_fixtures.simulator_server
sim = _gateway_fixtures.sim
gateway = _e2e_fixtures.gateway
cli = _e2e_fixtures.cli

DbtRun = Callable[..., subprocess.CompletedProcess[str]]


def dbt_runner(dsn: str, work_dir: Path) -> DbtRun:
    """Run real dbt on dbt_project/ against ``dsn``; target and logs under ``work_dir``."""

    def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **dbt_env(dsn), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        done = subprocess.run(
            [DBT, *dbt_args(list(command), work_dir)], env=env, capture_output=True, text=True, timeout=600
        )
        if check:
            assert done.returncode == 0, done.stdout[-5000:]
        return done

    return run


@pytest.fixture(scope="session")
def make_dbt() -> Callable[[str, Path], DbtRun]:
    """``dbt_runner`` for tests with their own database (test modules cannot import conftest)."""
    return dbt_runner


@pytest.fixture(scope="module")
def module_dsn(pg_server: PostgresEndpoint, vault_template: str) -> Iterator[str]:
    """A migrated vault database shared by one test module."""
    name = f"ov_dbt_{os.getpid()}_{next(_counter)}"
    janitor = DatabaseJanitor(
        user="postgres",
        host=str(pg_server.socket_dir),
        port=pg_server.port,
        version=16,
        dbname=name,
        template_dbname=vault_template,
    )
    with janitor:
        yield pg_server.dsn(name)


@pytest.fixture(scope="module")
async def module_pool(module_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(module_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
def module_dbt(module_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    return dbt_runner(module_dsn, tmp_path_factory.mktemp("dbt"))
