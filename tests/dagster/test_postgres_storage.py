"""With ONEVAULT_DATABASE_URL set (the compose stack, any external PostgreSQL), Dagster keeps its
runs and events in that database: a run records its events there (the storage sends a NOTIFY
per event, which only the psycopg2 driver can bind — pyproject.toml keeps SQLAlchemy on it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, job, op

from dagster_pipelines.instance import prepare_home
from warehouse.settings import Settings


@op
def answer() -> int:
    return 42


@job
def tiny() -> None:
    answer()


def test_a_run_is_recorded_in_the_external_database(
    tmp_path: Path, vault_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEVAULT_DATABASE_URL", vault_dsn)
    home = prepare_home(Settings(home=tmp_path, database_url=vault_dsn))
    with DagsterInstance.from_config(str(home)) as instance:
        result = tiny.execute_in_process(instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None
        assert instance.all_logs(result.run_id)
