"""The FastAPI application and everything it owns for its lifetime.

``create_app`` wires PostgreSQL, Redis, the shared upstream HTTP client, the event emitter with its
spool replayer and (by default) the in-process vault loader. ``onevault loader`` runs the
loader as its own process instead when the gateway scales out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from gateway import background
from gateway.alerts.thresholds import BudgetAlerts
from gateway.alerts.worker import AlertWorker
from gateway.api import admin, chat, completions, embeddings, health, messages, models, responses
from gateway.api.billing import router as billing_router
from gateway.api.deps import Services
from gateway.api.images import router as images_router
from gateway.api.legacy_completions import router as legacy_completions_router
from gateway.api.usage import router as usage_router
from gateway.auth.principal import KeyStore
from gateway.body_limit import BodySizeLimit
from gateway.crypto.keyring import admin_token, keyring_from
from gateway.enforcement import BudgetGuard, RateLimiter
from gateway.enforcement.breaker import CircuitBreaker
from gateway.errors import install_error_handlers
from gateway.pipeline import CompletionService
from gateway.pipeline.admission import Admission
from gateway.pipeline.context import Clock, utc_now
from gateway.pipeline.customer_keys import CustomerKeys
from gateway.pipeline.data_stages import DataStages
from gateway.pipeline.embedding_service import EmbeddingService
from gateway.pipeline.per_customer import PerCustomer
from gateway.pipeline.planning import Planner
from gateway.pricing import PriceCatalog
from gateway.providers.http import create_http_client
from gateway.recording.emitter import EventEmitter
from gateway.recording.spool import Spool
from gateway.request_metrics import RequestMetrics
from gateway.routing.catalog import ProviderCatalog
from gateway.routing.performance import OwnWindow, PerformanceSource
from gateway.routing.rules import customer_rules
from warehouse.db import create_pool
from warehouse.settings import Settings
from warehouse.stream_loader import StreamLoader

log = logging.getLogger("onevault.gateway")
MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    settings: Settings
    database_url: str
    redis_url: str
    catalog_path: Path
    run_loader: bool = True
    clock: Clock = utc_now  # when requests and costs are stamped (the demo replays a past month)


def create_app(config: GatewayConfig) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = config.settings
        pool = await create_pool(config.database_url, min_size=1, max_size=10)
        # A blocking pool: under a burst, requests wait briefly for a connection instead of
        # failing over to the spool (redis-py's default pool raises at 100 connections).
        redis = aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(
                config.redis_url,
                max_connections=settings.redis_max_connections,
                timeout=2,
                socket_timeout=2,
                socket_connect_timeout=2,
                health_check_interval=10,
                # Fail fast to the spool rather than hold requests in redis-py's retry backoff.
                retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries=1),
            )
        )
        http = create_http_client()
        spool = Spool(settings.home_dir / "spool")
        emitter = EventEmitter(redis, settings.event_stream, spool)
        loader = StreamLoader.from_settings(redis, pool, settings) if config.run_loader else None
        keyring = keyring_from(settings)
        app.state.keyring, app.state.admin_token = keyring, admin_token(settings)
        window = OwnWindow(redis)
        planner = Planner(
            ProviderCatalog.from_file(config.catalog_path),
            PriceCatalog.from_file(settings.prices_path),
            settings.default_markup_pct,
            PerformanceSource(pool, window),
        )
        data = DataStages(planner, pool, redis, keyring)
        completions_service = CompletionService(
            planner,
            http,
            emitter,
            admission=Admission(
                RateLimiter(redis),
                BudgetGuard(redis, pool),
                BudgetAlerts(redis, f"{settings.event_stream}:alerts"),
            ),
            customer_keys=CustomerKeys(pool, keyring),
            rules=PerCustomer(lambda customer: customer_rules(pool, customer)),
            window=window,
            breaker=CircuitBreaker(
                redis,
                threshold=settings.breaker_threshold,
                window_s=settings.breaker_window_s,
                cooldown_s=settings.breaker_cooldown_s,
            ),
            clock=config.clock,
            data=data,
        )
        # The semantic cache embeds through the same attempt loop as every other call.
        data.embedder = EmbeddingService(completions_service)
        app.state.pool, app.state.redis, app.state.spool, app.state.loader = pool, redis, spool, loader
        app.state.emitter = emitter
        app.state.services = Services(KeyStore(pool, redis), completions_service)
        alerts = AlertWorker(redis, pool, keyring, stream=f"{settings.event_stream}:alerts")
        tasks = [
            background.start("spool-replayer", emitter.run_replayer),
            background.start("performance-window", window.run),
            background.start("budget-alerts", alerts.run),
        ]
        if loader is not None:
            tasks.append(background.start("vault-loader", loader.run))
        app.state.background = tasks  # what the fault suite inspects when a test fails
        try:
            yield
        finally:
            if loader is not None:
                loader.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await http.aclose()
            await redis.aclose()
            await pool.close()

    app = FastAPI(
        title="OneVault gateway",
        version="0.1.0",
        lifespan=lifespan,
        description="One endpoint for every LLM provider; every request and cost recorded in a Data Vault.",
    )
    install_error_handlers(app)
    for module in (completions, chat, embeddings, messages, models, responses, health, admin):
        app.include_router(module.router)
    for router in (legacy_completions_router, images_router):  # the smaller doors (issue 16)
        app.include_router(router)
    for router in (usage_router, billing_router):  # warehouse marts, read for the calling customer
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestMetrics)
    return app
