"""The Dagster side of the CLI: start the UI + daemon beside the gateway (``onevault up``), or
run one of them in the foreground (``onevault dagster webserver|daemon``, the compose services).

Before either starts, the dbt manifest is parsed once (``dbt parse``), so loading the
definitions never parses; ``DAGSTER_HOME`` is ``ONEVAULT_HOME/dagster`` with telemetry off.
"""

from __future__ import annotations

import os
import subprocess
import sys
from enum import StrEnum

import typer

from gateway.cli.runtime import servers, settings
from warehouse.settings import Settings


class Role(StrEnum):
    webserver = "webserver"
    daemon = "daemon"


def start_dagster(
    s: Settings, database_url: str, *, port: int | None = None, daemon: bool = True
) -> list[subprocess.Popen]:
    """Prepare the manifest and DAGSTER_HOME, then start the webserver (and daemon) as children."""
    from dagster_pipelines import instance
    from dagster_pipelines.project import prepare_manifest

    prepare_manifest(database_url)
    return instance.start(s, port=port, daemon=daemon)


def dagster(
    role: Role = typer.Argument(..., help="webserver (the UI) or daemon (runs schedules and queued runs)."),
    host: str = typer.Option(
        None, "--host", help="UI bind address (default ONEVAULT_DAGSTER_HOST, 127.0.0.1)."
    ),
    port: int = typer.Option(None, "--port", help="UI port (default ONEVAULT_DAGSTER_PORT, 3000)."),
) -> None:
    """Run the Dagster webserver or daemon in the foreground for the billing runs."""
    from dagster_pipelines import instance
    from dagster_pipelines.project import prepare_manifest

    s = settings()
    prepare_manifest(servers().database_url)
    if role is Role.webserver:
        command = instance.webserver_command(host or s.dagster_host, port or s.dagster_port)
    else:
        command = instance.daemon_command()
    env = instance.dagster_env(s)
    sys.stdout.flush()
    os.execve(command[0], command, env)
