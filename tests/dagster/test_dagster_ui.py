"""The Dagster UI as ``onevault up`` starts it answers, and its GraphQL API lists the billing job,
its monthly partitions and the three schedules (a real dagster-webserver on a free port)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from dagster_pipelines.instance import stop
from gateway.cli.dagster import start_dagster
from warehouse.settings import Settings

# Dagster reads the manifest in dbt_project/target, which the session parses into: one worker.
pytestmark = pytest.mark.xdist_group("dbt_target")

LOCATION = "dagster_pipelines.definitions"
REPOSITORY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name }
    jobs { name }
    schedules { name cronSchedule executionTimezone scheduleState { status } }
    partitionSets { name pipelineName }
} } } }
"""
PARTITIONS = """
query($repo: String!, $location: String!) {
  partitionSetOrError(
    repositorySelector: {repositoryName: $repo, repositoryLocationName: $location},
    partitionSetName: "billing_run_partition_set"
  ) { ... on PartitionSet { partitionsOrError { ... on Partitions { results { name } } } } }
}
"""


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture
def dagster_ui(tmp_path: Path, vault_dsn: str, port_picker: Callable[[], int]):
    settings = Settings(home=tmp_path / "home", dagster_host="127.0.0.1", dagster_port=port_picker())
    # As `onevault up` does it (without the daemon: no schedule may fire during a test).
    procs = start_dagster(settings, vault_dsn, daemon=False)
    url = f"http://127.0.0.1:{settings.dagster_port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            log = settings.home_dir / "logs" / "dagster-webserver.log"
            assert procs[0].poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "dagster-webserver did not answer within 120 s"
            time.sleep(0.5)
        yield url, settings
    finally:
        stop(procs)


def test_ui_lists_billing_job_partitions_and_schedules(dagster_ui: tuple[str, Settings]) -> None:
    url, settings = dagster_ui
    config = yaml.safe_load((settings.home_dir / "dagster" / "dagster.yaml").read_text())
    assert config["telemetry"] == {"enabled": False}

    deadline = time.monotonic() + 60
    while True:  # the code location loads in its own process after the server answers
        nodes = graphql(url, REPOSITORY)["repositoriesOrError"].get("nodes") or []
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    (repo,) = nodes
    assert repo["location"]["name"] == LOCATION
    assert {"billing_run", "daily_spend", "provider_performance_refresh"} <= {j["name"] for j in repo["jobs"]}
    schedules = {s["name"]: s for s in repo["schedules"]}
    assert schedules["monthly_billing"]["cronSchedule"] == "5 1 1 * *"  # after the 1 h grace period
    assert schedules["daily_spend_schedule"]["cronSchedule"] == "20 0 * * *"
    assert schedules["provider_performance_5m_schedule"]["cronSchedule"] == "*/5 * * * *"
    assert {s["scheduleState"]["status"] for s in schedules.values()} == {"RUNNING"}
    assert {"billing_run", "daily_spend"} <= {p["pipelineName"] for p in repo["partitionSets"]}

    found = graphql(url, PARTITIONS, {"repo": repo["name"], "location": LOCATION})
    months = [p["name"] for p in found["partitionSetOrError"]["partitionsOrError"]["results"]]
    assert months[0] == "2024-01-01" and "2025-03-01" in months
    assert all(m.endswith("-01") for m in months)  # monthly, ending with the last complete month
