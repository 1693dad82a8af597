"""The daily Dagster job pulls the simulated provider's bill for its partition's day, rebuilds
marts.provider_reconciliation and warns (never blocks) where the bill differs: here usage
OpenAI billed on a day OneVault recorded nothing for."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from dagster import AssetCheckSeverity, DagsterInstance

from gateway.simulator import SimulatorServer
from tests.gateway.conftest import sim, simulator_server  # noqa: F401 - fixtures

pytestmark = pytest.mark.xdist_group("dbt_target")  # builds in the repository's dbt target


async def test_daily_job_imports_the_bill_and_the_check_warns(
    billing_env: Path,
    dagster_instance: DagsterInstance,
    sim: SimulatorServer,  # noqa: F811
    vault_pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    async with httpx.AsyncClient(base_url=sim.url, timeout=30) as raw:
        r = await raw.post(
            "/_sim/billing/extra",
            json={"api_style": "openai", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500,
                  "requests": 3, "day": day.isoformat(), "api_key": "sim-openai"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    monkeypatch.setenv("ONEVAULT_RECONCILE_OPENAI_ADMIN_KEY", "sim-admin")
    monkeypatch.setenv("ONEVAULT_RECONCILE_OPENAI_BASE_URL", f"{sim.url}/v1")

    from dagster_pipelines.definitions import defs
    from dagster_pipelines.reconciliation import JOB_NAME

    job = defs.resolve_job_def(JOB_NAME)
    result = await asyncio.to_thread(  # the job's steps run their own event loops
        job.execute_in_process, partition_key=day.isoformat(), instance=dagster_instance, raise_on_error=False
    )
    assert result.success
    row = await vault_pool.fetchrow(
        "select status, missing_from, provider_cost, provider_requests from marts.provider_reconciliation "
        "where usage_date = $1 and provider = 'openai' and model = 'gpt-4o'",
        day,
    )
    assert row is not None
    assert (row["status"], row["missing_from"], row["provider_requests"]) == ("missing", "onevault", 3)
    assert row["provider_cost"] > 0
    (check,) = [
        c for c in result.get_asset_check_evaluations() if c.check_name == "provider_reconciliation_variance"
    ]
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert f"{day} openai/gpt-4o missing" in (check.description or "")
