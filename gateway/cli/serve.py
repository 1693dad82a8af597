"""``onevault serve`` (the gateway alone, production style) and ``onevault loader``."""

from __future__ import annotations

import asyncio
import os
import signal

import typer
import uvicorn

from gateway.cli.runtime import require_admin_token, servers, settings
from warehouse.db import create_pool
from warehouse.settings import get_settings
from warehouse.stream_loader import StreamLoader


def serve(
    host: str = typer.Option(None, help="Bind address (default ONEVAULT_GATEWAY_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default ONEVAULT_GATEWAY_PORT, 8000)."),
    workers: int = typer.Option(None, help="Worker processes (default ONEVAULT_WORKERS; use one per core)."),
    loader: bool = typer.Option(True, "--loader/--no-loader", help="Run the vault loader in each worker."),
) -> None:
    """Serve the gateway with uvicorn (uvloop + httptools) against configured or embedded servers."""
    s = settings()
    require_admin_token(s)
    servers()  # start the embedded servers once, before the workers fork
    os.environ["ONEVAULT_RUN_LOADER"] = "true" if loader else "false"
    get_settings.cache_clear()  # with one worker the app is built in this process: re-read
    uvicorn.run(
        "gateway.asgi:create",
        factory=True,
        host=host or s.gateway_host,
        port=port or s.gateway_port,
        workers=workers or s.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def loader() -> None:
    """Run the vault loader alone: drain the event stream into the raw vault until SIGTERM."""
    s = settings()
    ep = servers()

    async def main() -> None:
        import redis.asyncio as aioredis

        pool = await create_pool(ep.database_url, min_size=1, max_size=2)
        redis = aioredis.Redis.from_url(ep.redis_url)
        worker = StreamLoader.from_settings(redis, pool, s)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        typer.echo(f"loading {s.event_stream} into the vault (consumer {worker.consumer})")
        try:
            await worker.run()
        finally:
            await redis.aclose()
            await pool.close()

    asyncio.run(main())
