"""The Dagster instance OneVault runs: ``DAGSTER_HOME`` under ``ONEVAULT_HOME``, telemetry off,
one dbt run at a time, and the webserver + daemon as child processes of ``onevault up``.

Storage is SQLite under ``DAGSTER_HOME`` on the embedded default, and the warehouse's own
PostgreSQL (dagster-postgres) when ``ONEVAULT_DATABASE_URL`` points at a real server, so the
webserver and daemon containers of the compose stack share runs, schedules and event logs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import psutil
import yaml

from warehouse.settings import Settings

MODULE = "dagster_pipelines.definitions"


def instance_config(settings: Settings) -> dict:
    config: dict = {
        "telemetry": {"enabled": False},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": 4,
                # dbt rebuilds whole tables: two builds at once would fight over them.
                "tag_concurrency_limits": [{"key": "onevault/dbt", "limit": 1}],
            },
        },
    }
    if settings.database_url is not None:
        config["storage"] = {"postgres": {"postgres_url": {"env": "ONEVAULT_DATABASE_URL"}}}
    return config


def prepare_home(settings: Settings) -> Path:
    """Create ``ONEVAULT_HOME/dagster`` with its ``dagster.yaml`` and return it."""
    home = settings.home_dir / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(settings), sort_keys=False))
    return home


def _exe(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def webserver_command(host: str, port: int) -> list[str]:
    return [_exe("dagster-webserver"), "-h", host, "-p", str(port), "-m", MODULE]


def daemon_command() -> list[str]:
    return [_exe("dagster-daemon"), "run", "-m", MODULE]


def dagster_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, **(extra or {}), "DAGSTER_HOME": str(prepare_home(settings))}


def start(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    daemon: bool = True,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
) -> list[subprocess.Popen]:
    """Start the webserver (and the daemon that runs schedules); logs go to ``log_dir``."""
    environment = dagster_env(settings, env)
    logs = log_dir or settings.home_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    commands = {
        "dagster-webserver": webserver_command(host or settings.dagster_host, port or settings.dagster_port)
    }
    if daemon:
        commands["dagster-daemon"] = daemon_command()
    procs = []
    for name, command in commands.items():
        log = (logs / f"{name}.log").open("ab")
        procs.append(subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT))
    return procs


def stop(procs: list[subprocess.Popen], timeout: float = 15.0) -> None:
    """SIGTERM each child (they stop their own children: code servers, run workers), then wait;
    kill what lingers — of the children and of their descendants, so nothing keeps firing
    schedules after ``onevault up`` has gone."""
    family: list[psutil.Process] = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            family += psutil.Process(p.pid).children(recursive=True)
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    _, lingering = psutil.wait_procs(family, timeout=5)
    for q in lingering:
        with contextlib.suppress(psutil.Error):
            q.kill()
