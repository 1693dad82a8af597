"""The production stack in docker-compose.yml stays runnable: every service runs a command the
CLI really has, with settings the gateway really reads, in a sensible start order.

CI has no Docker engine, so this checks the file against the code rather than running it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gateway.cli.main import app
from warehouse.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "gateway", "loader"} <= set(services)
    assert services["gateway"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["loader"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pgvector" in services["postgres"]["image"]  # the vault enables the vector extension
    assert "--appendonly" in services["redis"]["command"]  # the event stream must survive a restart


def test_every_service_command_exists_in_the_cli(compose: dict[str, Any]) -> None:
    runner = CliRunner()
    for name, service in compose["services"].items():
        command = service.get("command")
        if not command or command[0] != "onevault":
            continue
        args = command[1:]
        subcommand = [a for a in args if not a.startswith("-")][:1]
        result = runner.invoke(app, [*subcommand, "--help"])
        assert result.exit_code == 0, (
            f"{name}: onevault {' '.join(subcommand)} --help failed: {result.output}"
        )
        for flag in (a.split("=")[0] for a in args if a.startswith("--")):
            assert flag in result.output, f"{name}: `onevault {subcommand[0]}` has no {flag} option"


def test_environment_names_are_settings_the_gateway_reads(compose: dict[str, Any]) -> None:
    known = {f"ONEVAULT_{name.upper()}" for name in Settings.model_fields}
    for name, service in compose["services"].items():
        for var in service.get("environment", {}) or {}:
            if var.startswith("ONEVAULT_"):
                assert var in known, f"{name}: {var} is not a setting (warehouse/settings.py)"
    gateway_env = compose["services"]["gateway"]["environment"]
    assert gateway_env["ONEVAULT_DATABASE_URL"].startswith("postgresql://")
    assert gateway_env["ONEVAULT_REDIS_URL"].startswith("redis://")


def test_gateway_serves_without_its_own_loader_and_loader_runs_apart(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "--no-loader" in services["gateway"]["command"]
    assert services["loader"]["command"] == ["onevault", "loader"]
    assert "0.0.0.0" in services["gateway"]["command"]  # reachable from outside its container


def test_dockerfile_installs_the_package_and_runs_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "USER onevault" in dockerfile


def test_dagster_webserver_and_daemon_share_postgres_storage(compose: dict[str, Any]) -> None:
    from dagster_pipelines.instance import instance_config

    services = compose["services"]
    web, daemon = services["dagster-webserver"], services["dagster-daemon"]
    assert web["command"][:3] == ["onevault", "dagster", "webserver"] and "0.0.0.0" in web["command"]
    assert daemon["command"] == ["onevault", "dagster", "daemon"]
    for service in (web, daemon):
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["environment"]["ONEVAULT_DATABASE_URL"].startswith("postgresql://")
        assert service["environment"]["ONEVAULT_HOME"] == "/var/lib/onevault"
    # With a real PostgreSQL, both processes read and write one run/schedule storage there.
    external = Settings(database_url=web["environment"]["ONEVAULT_DATABASE_URL"])
    assert instance_config(external)["storage"] == {
        "postgres": {"postgres_url": {"env": "ONEVAULT_DATABASE_URL"}}
    }
    assert instance_config(external)["telemetry"] == {"enabled": False}
    # The embedded default keeps SQLite under DAGSTER_HOME.
    assert "storage" not in instance_config(Settings(database_url=None))
    assert "dagster_pipelines.project" in (ROOT / "Dockerfile").read_text()  # manifest parsed at build


def _onevault_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if (s.get("command") or [""])[0] == "onevault"}


def test_interpolated_and_secret_names_are_settings(compose: dict[str, Any]) -> None:
    """``${ONEVAULT_X}`` in the file and the secrets the header tells operators to set exist."""
    import re

    known = {f"ONEVAULT_{name.upper()}" for name in Settings.model_fields}
    text = (ROOT / "docker-compose.yml").read_text()
    for var in re.findall(r"\b(ONEVAULT_[A-Z_]+)\b", text):
        assert var in known, f"docker-compose.yml mentions {var}, which is not a setting"
    for secret in ("ONEVAULT_MASTER_KEY", "ONEVAULT_ADMIN_TOKEN", "ONEVAULT_AUDIT_SIGNING_KEY"):
        assert secret in text
    for name, service in _onevault_services(compose).items():
        assert service["env_file"] == [{"path": "onevault.env", "required": False}], name


def test_production_shape(compose: dict[str, Any]) -> None:
    services = compose["services"]
    gateway = services["gateway"]
    assert int(gateway["environment"]["ONEVAULT_WORKERS"].split(":-")[-1].rstrip("}")) > 1  # several workers
    assert "/ready" in " ".join(gateway["healthcheck"]["test"])  # unhealthy when it cannot record
    redis_cmd = services["redis"]["command"]
    assert redis_cmd[redis_cmd.index("--maxmemory-policy") + 1] == "noeviction"  # never drop events
    for name in ("postgres", "redis", "gateway", "dagster-webserver"):
        assert "healthcheck" in services[name], name
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in declared, f"{name}: undeclared volume {volume}"
    for name, service in _onevault_services(compose).items():
        assert "onevault:/var/lib/onevault" in service["volumes"], f"{name} must share ONEVAULT_HOME"
        if name != "migrate":
            assert service["restart"] == "unless-stopped", name


def test_docker_build_context_leaves_out_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".venv", ".onevault", ".git", "onevault.env", ".env"):
        assert path in ignored, path


def test_redis_requires_a_password_and_every_service_sends_it(compose: dict[str, Any]) -> None:
    """The gateway trusts Redis (cached principals, budgets, the event stream): no client on the
    compose network may use it without the password, which has no default to forget to change."""
    import re

    from redis.connection import parse_url

    services = compose["services"]
    redis_cmd = services["redis"]["command"]
    assert "--requirepass" in redis_cmd, "Redis must require a password"
    secret = redis_cmd[redis_cmd.index("--requirepass") + 1]
    assert re.fullmatch(r"\$\{REDIS_PASSWORD:\?[^}]+\}", secret), f"required, without a default: {secret}"
    assert "ports" not in services["redis"], "Redis is for the stack's own services only"
    assert services["redis"]["environment"]["REDISCLI_AUTH"] == secret  # the healthcheck authenticates
    assert "redis-cli" in " ".join(services["redis"]["healthcheck"]["test"])
    for name, service in _onevault_services(compose).items():
        url = service["environment"]["ONEVAULT_REDIS_URL"]
        assert url == f"redis://:{secret}@redis:6379/0", name
        assert parse_url(url.replace(secret, "s3cret"))["password"] == "s3cret", name  # what redis-py reads
