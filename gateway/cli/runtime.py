"""What every CLI command shares: settings, the servers, a pool for one command's work."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import redis.asyncio as aioredis
import typer

from gateway.crypto.keyring import AdminTokenError, admin_token
from warehouse.db import run_with_pool, run_with_pool_and_redis
from warehouse.embedded import EmbeddedServerError, Endpoints, ensure_servers
from warehouse.settings import Settings, get_settings

T = TypeVar("T")


def settings() -> Settings:
    return get_settings()


def require_admin_token(s: Settings) -> None:
    """Refuse to serve the gateway with an admin token anyone could guess (clear error, exit 2)."""
    try:
        admin_token(s)
    except AdminTokenError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def servers() -> Endpoints:
    """Where the warehouse is; starts the embedded servers on first need and leaves them up."""
    try:
        return ensure_servers(settings())
    except EmbeddedServerError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from exc


def with_pool(fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    return run_with_pool(servers().database_url, fn)


def with_pool_and_redis(fn: Callable[[asyncpg.Pool, aioredis.Redis], Awaitable[T]]) -> T:
    """Run an admin change that must also drop cached state in Redis."""
    endpoints = servers()
    return run_with_pool_and_redis(endpoints.database_url, endpoints.redis_url, fn)


def operator() -> str:
    """Who made an admin change from this terminal (recorded as ``changed_by``)."""
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"
