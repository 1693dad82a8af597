"""OneVault's Dagster definitions load in-process: the jobs, their partitions and the schedules
``onevault up`` serves (the webserver itself is started by the ``onevault up`` test)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from dagster import DefaultScheduleStatus, Definitions

from dagster_pipelines.instance import instance_config
from warehouse.settings import Settings

# The definitions read the manifest in dbt_project/target, which the session parses into: one worker.
pytestmark = pytest.mark.xdist_group("dbt_target")


@pytest.fixture(scope="module")
def defs(dbt_manifest: Path) -> Definitions:
    return importlib.import_module("dagster_pipelines.definitions").defs


def test_jobs_and_schedules_are_defined(defs: Definitions) -> None:
    names = {job.name for job in defs.resolve_all_job_defs()}
    assert {"billing_run", "daily_spend", "provider_performance_refresh", "audit_export"} <= names
    crons = {
        "monthly_billing": "5 1 1 * *",  # five minutes after the 1 h grace period
        "daily_spend_schedule": "20 0 * * *",
        "provider_performance_5m_schedule": "*/5 * * * *",
    }
    for name, cron in crons.items():
        schedule = defs.resolve_schedule_def(name)
        assert schedule.cron_schedule == cron, name
        assert schedule.default_status == DefaultScheduleStatus.RUNNING, name
        assert schedule.execution_timezone in (None, "UTC"), name


def test_billing_is_partitioned_by_completed_month(defs: Definitions) -> None:
    billing = defs.resolve_job_def("billing_run")
    months = billing.partitions_def.get_partition_keys()
    assert months[0] == "2024-01-01" and "2025-03-01" in months
    assert all(m.endswith("-01") for m in months)
    daily = defs.resolve_job_def("daily_spend").partitions_def.get_partition_keys()
    assert daily[0] == "2024-01-01" and len(daily) > len(months)


def test_the_instance_sends_no_telemetry(tmp_path: Path) -> None:
    assert instance_config(Settings(home=tmp_path))["telemetry"] == {"enabled": False}
