"""ASGI entry point for multi-worker serving: ``uvicorn gateway.asgi:create --factory``.

Each worker reads the same ``ONEVAULT_*`` settings; on the embedded default the servers are
already up (``ensure_servers`` finds them), so workers share one PostgreSQL and one Redis.
"""

from __future__ import annotations

from fastapi import FastAPI

from gateway.app import GatewayConfig, create_app
from warehouse.embedded import ensure_servers
from warehouse.settings import get_settings


def create() -> FastAPI:
    settings = get_settings()
    endpoints = ensure_servers(settings)
    return create_app(
        GatewayConfig(
            settings,
            endpoints.database_url,
            endpoints.redis_url,
            settings.catalog_path,
            run_loader=settings.run_loader,
        )
    )
