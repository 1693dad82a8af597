"""Fixtures for warehouse tests: a vault database per module (a dbt build takes seconds, so a
module loads its data once and builds once), a dbt runner, and the gateway e2e fixtures
(real gateway over HTTP + the provider simulator) borrowed from tests/gateway."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from tests.gateway import conftest as gateway_fixtures
from tests.gateway.e2e import conftest as e2e_fixtures
from warehouse.db import create_pool
from warehouse.dbt import dbt_args, dbt_env

DBT = str(Path(sys.executable).with_name("dbt"))
TESTS = Path(__file__).resolve().parents[1]
_counter = itertools.count()


# The gateway e2e fixtures (real gateway over HTTP + the provider simulator), for the tests
# that send real traffic before building the marts.
simulator_server = gateway_fixtures.simulator_server
sim = gateway_fixtures.sim
gateway = e2e_fixtures.gateway
cli = e2e_fixtures.cli

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
    """``dbt_runner`` for tests with their own database."""
    return dbt_runner


@pytest.fixture(scope="module")
async def module_pool(module_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(module_dsn, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
def module_dbt(module_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> DbtRun:
    return dbt_runner(module_dsn, tmp_path_factory.mktemp("dbt"))
