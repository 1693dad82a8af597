"""Dagster runs in-process against the session's PostgreSQL/Redis and a fresh vault database.

The dbt manifest is prepared once per session (as ``onevault up`` does at start), not per load.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from warehouse.embedded import RedisEndpoint
from warehouse.settings import get_settings


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    from dagster_pipelines.project import prepare_manifest

    return prepare_manifest()


@pytest.fixture
def billing_env(
    dbt_manifest: Path,
    vault_dsn: str,
    redis_server: RedisEndpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """ONEVAULT_* pointing the Dagster resources (and the CLI) at this test's vault; the home."""
    home = tmp_path / "home"
    monkeypatch.setenv("ONEVAULT_DATABASE_URL", vault_dsn)
    monkeypatch.setenv("ONEVAULT_REDIS_URL", redis_server.url)
    monkeypatch.setenv("ONEVAULT_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def dagster_instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as instance:
        yield instance
