"""``onevault migrate | status | down | psql``: the warehouse's lifecycle from the terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import typer

from gateway.cli.runtime import servers, settings
from warehouse.db import connect
from warehouse.embedded import redact_url, stop_servers
from warehouse.migrations import migrate as apply_migrations
from warehouse.migrations import schema_version
from warehouse.tables import ALL_TABLES


def migrate() -> None:
    """Apply pending SQL migrations from sql/ (idempotent; refuses edited applied files)."""
    dsn = servers().database_url

    async def main() -> list[str]:
        conn = await connect(dsn)
        try:
            return await apply_migrations(conn)
        finally:
            await conn.close()

    applied = asyncio.run(main())
    typer.echo("\n".join(f"applied {name}" for name in applied) if applied else "schema is up to date")


def status() -> None:
    """Show the servers, the connection string for BI tools, schema version and vault row counts."""
    s = settings()
    ep = servers()

    async def main() -> tuple[int | None, dict[str, int]]:
        conn = await connect(ep.database_url)
        try:
            version = await schema_version(conn)
            counts = {}
            if version is not None:
                for spec in ALL_TABLES:
                    counts[spec.name] = await conn.fetchval(f"select count(*) from raw_vault.{spec.name}")
            return version, counts
        finally:
            await conn.close()

    version, counts = asyncio.run(main())
    mode = "embedded" if ep.embedded else "external"
    typer.echo(f"PostgreSQL ({mode}): up")
    typer.echo(f"  BI / psql connection: {ep.bi_database_url}")
    typer.echo("  BI tools, marts only: `onevault bi-role create <customer|--all>` prints a read-only login")
    if ep.embedded:
        typer.echo(f"  password file:        {s.home_dir / 'secrets' / 'postgres-password'}")
    typer.echo(f"Redis ({'embedded' if s.embedded_redis else 'external'}): {redact_url(ep.redis_url)}")
    typer.echo(f"Schema version: {version if version is not None else 'not migrated (run onevault migrate)'}")
    if counts:
        typer.echo("Raw vault rows:")
        width = max(map(len, counts))
        for name, n in counts.items():
            typer.echo(f"  {name:<{width}}  {n:>10,}")


def down() -> None:
    """Stop the embedded PostgreSQL and Redis under ONEVAULT_HOME (external servers are left alone)."""
    stopped = stop_servers(settings())
    typer.echo(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


def psql(ctx: typer.Context) -> None:
    """Run psql against the warehouse; extra arguments pass through (e.g. -At -c "select 1")."""
    from pgserver._commands import POSTGRES_BIN_PATH

    dsn = servers().database_url
    exe = str(POSTGRES_BIN_PATH / "psql")
    sys.stdout.flush()
    os.execv(exe, [exe, "-X", dsn, *ctx.args])


def dbt(ctx: typer.Context) -> None:
    """Run dbt on the warehouse project (dbt_project/); arguments pass through, e.g. `build`."""
    from warehouse.dbt import dbt_args, dbt_env

    env = {**os.environ, **dbt_env(servers().database_url), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    exe = str(Path(sys.executable).with_name("dbt"))
    sys.stdout.flush()
    args = list(ctx.args)
    if args and not args[0].startswith("-"):  # a dbt command: point it at our project
        args = dbt_args(args, settings().home_dir / "dbt")
    os.execve(exe, [exe, *(args or ["--help"])], env)
