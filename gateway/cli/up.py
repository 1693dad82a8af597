"""``onevault up``: servers, migrations, the simulator, the gateway and the Dagster UI + daemon
— in the foreground.

Ctrl-C, SIGTERM and SIGHUP all stop what this command started — the Dagster webserver and
daemon, the simulator, and the embedded servers unless it found them already running
(``gateway.cli.stopping``). On a fresh ONEVAULT_HOME it also writes a provider catalog pointing at the
simulator and creates a demo customer, its key and its console admin (password in
secrets/console-password), and prints a ready-to-paste curl and how to log in to the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from pathlib import Path

import typer
import uvicorn

from dagster_pipelines import instance as dagster_instance
from dagster_pipelines.instance import stop as stop_dagster
from gateway.admin.customers import CustomerConfig, create_customer, customer_exists
from gateway.admin.keys import create_gateway_key
from gateway.app import GatewayConfig, create_app
from gateway.cli.console import DEMO_EMAIL, ensure_demo_user
from gateway.cli.runtime import operator, require_admin_token, settings
from gateway.cli.stopping import Stopping, StopSignals
from gateway.simulator import SimulatorServer
from warehouse.db import connect, create_pool
from warehouse.embedded import embedded_postgres, embedded_redis, ensure_servers, redact_url, stop_servers
from warehouse.embedded.files import write_secret
from warehouse.migrations import migrate
from warehouse.settings import Settings

DEMO_CUSTOMER = "demo"


def simulator_catalog(base_url: str) -> dict:
    """Every provider the demo knows, all served by the built-in simulator."""
    return {
        "default_model": "gpt-4o-mini",
        "providers": [
            {
                "name": "openai",
                "api_style": "openai",
                "base_url": f"{base_url}/v1",
                "api_key": "sim-openai",
                "models": ["gpt-4o", "gpt-4o-mini", "o3-mini", "*"],
            },
            {
                "name": "anthropic",
                "api_style": "anthropic",
                "base_url": base_url,
                "api_key": "sim-anthropic",
                "models": ["claude-3-5-sonnet-latest", "claude-3-5-haiku-latest", "*"],
                "hipaa_eligible": True,
            },
            {
                "name": "gemini",
                "api_style": "gemini",
                "base_url": base_url,
                "api_key": "sim-gemini",
                "models": ["gemini-1.5-flash", "gemini-1.5-pro", "*"],
            },
            {
                # Listed after OpenAI: the failover target when OpenAI breaks.
                "name": "azure_openai",
                "api_style": "azure_openai",
                "base_url": base_url,
                "api_key": "sim-azure",
                "api_version": "2024-10-21",
                "models": ["gpt-4o", "gpt-4o-mini"],
                "deployments": {"gpt-4o": "gpt-4o", "gpt-4o-mini": "gpt-4o-mini"},
            },
            {
                "name": "cohere",
                "api_style": "cohere",
                "base_url": base_url,
                "api_key": "sim-cohere",
                "models": ["command-r-plus", "command-r", "*"],
            },
        ],
    }


def ensure_catalog(s: Settings, simulator_url: str) -> Path:
    path = s.catalog_path
    if not path.exists():
        path.write_text(json.dumps(simulator_catalog(simulator_url), indent=2))
    return path


async def bootstrap(database_url: str, home: Path) -> str | None:
    """Migrate; on a fresh home create the demo customer and key (returned once)."""
    conn = await connect(database_url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        if await customer_exists(pool, DEMO_CUSTOMER):
            return None
        await create_customer(
            pool, DEMO_CUSTOMER, CustomerConfig(display_name="Demo customer"), changed_by=operator()
        )
        issued = await create_gateway_key(pool, DEMO_CUSTOMER, changed_by=operator(), label="demo")
        write_secret(home / "secrets" / "demo-key", issued.key)
        await ensure_demo_user(pool, home, DEMO_CUSTOMER)  # the console's demo admin
        return issued.key
    finally:
        await pool.close()


def up(port: int = typer.Option(None, help="Gateway port (default ONEVAULT_GATEWAY_PORT or 8000).")) -> None:
    """Start everything on the embedded default and serve the gateway until Ctrl-C (or SIGTERM/SIGHUP)."""
    s = settings()
    require_admin_token(s)
    with StopSignals() as stops:
        started = contextlib.ExitStack()  # what this command started, stopped in reverse order
        try:
            _start_and_serve(s, port or s.gateway_port, stops, started)
        except Stopping as stop:
            typer.echo(f"\n{stop}: stopping", err=True)
        finally:
            stops.quiet()
            started.close()


def _start_and_serve(s: Settings, port: int, stops: StopSignals, started: contextlib.ExitStack) -> None:
    from dagster_pipelines.project import prepare_manifest

    pg_was_up = not s.embedded_postgres or embedded_postgres(s).is_running()
    redis_was_up = not s.embedded_redis or embedded_redis(s).is_running()
    if not (pg_was_up and redis_was_up):
        started.callback(_stop_servers, s)
    with stops.deferred():  # a signal during initdb must not leave a half-made cluster
        endpoints = ensure_servers(s)
    demo_key = asyncio.run(bootstrap(endpoints.database_url, s.home_dir))
    simulator = SimulatorServer(port=s.simulator_port)
    started.callback(simulator.stop)
    simulator.start()
    catalog = ensure_catalog(s, simulator.url)
    key_file = s.home_dir / "secrets" / "demo-key"
    base = f"http://{s.gateway_host}:{port}"
    typer.echo(f"PostgreSQL  {endpoints.bi_database_url}")
    typer.echo(f"Redis       {redact_url(endpoints.redis_url)}")
    typer.echo(f"Simulator   {simulator.url}")
    typer.echo(f"Gateway     {base}   (docs {base}/docs, metrics {base}/metrics with the admin token)")
    typer.echo(f"Admin API   {base}/admin/v1   (token: {s.home_dir / 'secrets' / 'admin-token'})")
    dagster_ui = f"http://{s.dagster_host}:{s.dagster_port}"
    typer.echo(f"Dagster UI  {dagster_ui}   (billing runs; logs in {s.home_dir / 'logs'})")
    password_file = s.home_dir / "secrets" / "console-password"
    login = f"log in as {DEMO_EMAIL}, password in {password_file}" if password_file.exists() else ""
    typer.echo(f"Console     {base}/console   ({login or 'users: onevault console create-user'})")
    key = demo_key or (key_file.read_text().strip() if key_file.exists() else "<your key>")
    typer.echo("\nTry it:\n")
    typer.echo(
        f"  curl -s {base}/v1/ai/completions -H 'Authorization: Bearer {key}' \\\n"
        "    -H 'content-type: application/json' \\\n"
        """    -d '{"prompt": "Hello, vault", "model": "gpt-4o-mini"}'\n"""
    )
    config = GatewayConfig(s, endpoints.database_url, endpoints.redis_url, catalog)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=s.gateway_host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,  # a stuck stream must not hold up the stop
        )
    )
    prepare_manifest(endpoints.database_url)  # dbt parse, once, here (a stop signal kills it)
    dagster: list[subprocess.Popen] = []
    started.callback(stop_dagster, dagster)
    with stops.deferred():  # the webserver and the daemon start (and stop) together
        dagster.extend(dagster_instance.start(s))
    stops.serve(server)


def _stop_servers(s: Settings) -> None:
    stopped = stop_servers(s)
    if stopped:
        typer.echo(f"stopped {', '.join(stopped)}")
