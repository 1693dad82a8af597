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

from fastapi import FastAPI

from gateway import background, metrics, tracing
from gateway.admin.refusals import RefusalRecorder
from gateway.alerts.anomalies import AnomalyAlerts
from gateway.alerts.thresholds import BudgetAlerts
from gateway.alerts.worker import AlertWorker
from gateway.api import admin, chat, completions, embeddings, health, messages, models, responses
from gateway.api.billing import router as billing_router
from gateway.api.deps import Services
from gateway.api.images import router as images_router
from gateway.api.legacy_completions import router as legacy_completions_router
from gateway.api.usage import router as usage_router
from gateway.auth.principal import KeyStore
from gateway.auth.seal import PrincipalSeal
from gateway.auth.throttle import FailureThrottle
from gateway.body_limit import BodySizeLimit
from gateway.console.app import create_console
from gateway.crypto.keyring import admin_token, auth_cache_key, keyring_from
from gateway.egress.config import egress_policy
from gateway.egress.loop import LoopGuard
from gateway.enforcement import BudgetGuard, RateLimiter
from gateway.enforcement.breaker import CircuitBreaker
from gateway.enforcement.concurrency import LeaseBook
from gateway.enforcement.credits import CreditGuard
from gateway.errors import install_error_handlers
from gateway.pipeline import CompletionService
from gateway.pipeline.admission import Admission
from gateway.pipeline.context import Clock, utc_now
from gateway.pipeline.customer_keys import CustomerKeys
from gateway.pipeline.data_stages import DataStages
from gateway.pipeline.embedding_service import EmbeddingService
from gateway.pipeline.per_customer import PerCustomer
from gateway.pipeline.planning import configured_planner
from gateway.providers.http import create_http_client
from gateway.recording.emitter import EventEmitter
from gateway.recording.spool import Spool
from gateway.redis_client import connect_redis
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
        traces = tracing.start(settings)  # OTEL_* / ONEVAULT_TRACING; None: off (the default)
        # Two pools: ``hot`` serves the request path and bounds every wait (a frozen PostgreSQL
        # turns into a quick error, and cached state answers); ``pool`` serves the loader, the
        # admin API and background work, whose waits (the writers' turn, COPY) may be long.
        pool = await create_pool(config.database_url, min_size=1, max_size=10)
        hot = await create_pool(
            config.database_url,
            min_size=1,
            max_size=10,
            command_timeout=settings.pg_command_timeout_s,
            acquire_timeout=settings.pg_acquire_timeout_s,
            connect_timeout=settings.pg_connect_timeout_s,
        )
        redis = connect_redis(
            config.redis_url,
            max_connections=settings.redis_max_connections,
            timeout_s=settings.redis_timeout_s,
            down_s=settings.redis_down_s,
        )
        # Customer URLs (own-key base URLs, webhooks) reach only what the egress policy allows.
        app.state.egress = egress = egress_policy(settings, hop_secret=admin_token(settings))
        http = create_http_client(
            customer_egress=egress,
            max_body_bytes=settings.upstream_max_body_bytes,
            max_event_bytes=settings.upstream_max_event_bytes,
        )
        spool = Spool(settings.home_dir / "spool")
        emitter = EventEmitter(redis, settings.event_stream, spool)
        loader = StreamLoader.from_settings(redis, pool, settings) if config.run_loader else None
        keyring = keyring_from(settings)
        app.state.keyring, app.state.admin_token = keyring, admin_token(settings)
        window = OwnWindow(redis)
        leases = LeaseBook(redis, settings.concurrency_lease_s)  # requests in flight per customer/key
        planner = configured_planner(
            settings, ProviderCatalog.from_file(config.catalog_path), PerformanceSource(hot, window)
        )
        data = DataStages(planner, hot, redis, keyring, pii_max_scan_chars=settings.pii_max_scan_chars)
        metrics.bound_models(settings.metrics_max_models, (m for _, m in planner.catalog.models()))
        completions_service = CompletionService(
            planner,
            http,
            emitter,
            admission=Admission(
                RateLimiter(
                    redis,
                    leases=leases,
                    per_customer=settings.max_concurrent_per_customer,
                    per_key=settings.max_concurrent_per_key,
                ),
                BudgetGuard(redis, hot),
                BudgetAlerts(redis, f"{settings.event_stream}:alerts"),
                fail_open=settings.fail_open,
                credits=CreditGuard(redis, hot, f"{settings.event_stream}:alerts"),  # prepaid wallets
            ),
            customer_keys=CustomerKeys(hot, keyring),
            rules=PerCustomer(lambda customer: customer_rules(hot, customer)),
            window=window,
            breaker=CircuitBreaker(
                redis,
                threshold=settings.breaker_threshold,
                window_s=settings.breaker_window_s,
                cooldown_s=settings.breaker_cooldown_s,
            ),
            clock=config.clock,
            data=data,
            drain_s=settings.stream_drain_s,
            drain_bytes=settings.stream_drain_bytes,
        )
        # The semantic cache embeds through the same attempt loop as every other call.
        data.embedder = EmbeddingService(completions_service)
        app.state.pool, app.state.redis, app.state.spool, app.state.loader = pool, redis, spool, loader
        app.state.emitter = emitter
        keys = KeyStore(
            hot,
            redis,
            seal=PrincipalSeal(auth_cache_key(settings)),
            failures=FailureThrottle(redis, "auth", settings.auth_failures_per_minute),
        )
        app.state.services = Services(keys, completions_service)
        # Refused admin calls: counted per address, recorded in batches (gateway.admin.refusals).
        app.state.admin_failures = FailureThrottle(redis, "admin", settings.admin_failures_per_minute)
        app.state.admin_refusals = refusals = RefusalRecorder(pool)
        alerts = AlertWorker(redis, pool, keyring, stream=f"{settings.event_stream}:alerts", egress=egress)
        tasks = [
            background.start("spool-replayer", emitter.run_replayer),
            background.start("performance-window", window.run),
            background.start("concurrency-leases", leases.run),
            background.start("budget-alerts", alerts.run),
            # new spend-anomaly flags of the marts → spend.anomaly jobs for the same worker
            background.start("anomaly-alerts", AnomalyAlerts(pool, redis, stream=alerts.stream).run),
            background.start("admin-refusals", refusals.run),
        ]
        if loader is not None:
            tasks.append(background.start("vault-loader", loader.run))
        app.state.background = tasks  # what the fault suite inspects when a test fails
        try:
            yield
        finally:
            await completions_service.aclose()  # streams read on after a disconnect: recorded
            if loader is not None:
                loader.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await refusals.flush()  # what the last interval refused
            await http.aclose()
            await redis.aclose()
            await hot.close()
            await pool.close()
            tracing.stop(traces)  # flush the batched spans

    app = FastAPI(
        title="OneVault gateway",
        version="0.1.0",
        lifespan=lifespan,
        description="One endpoint for every LLM provider; every request and cost recorded in a Data Vault.",
    )
    install_error_handlers(app)
    for module in (completions, chat, embeddings, messages, models, responses, health, admin):
        app.include_router(module.router)
    for router in (legacy_completions_router, images_router):  # the smaller doors: legacy completions, images
        app.include_router(router)
    for router in (usage_router, billing_router):  # warehouse marts, read for the calling customer
        app.include_router(router)
    # The web console: its own sub-application (routes, error pages), sharing the pools and Redis.
    app.mount("/console", create_console(app, config.settings))
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestMetrics)
    app.add_middleware(tracing.TraceRequests)  # a server span per request, when tracing is on
    app.add_middleware(LoopGuard)  # outermost: the gateway's own calls never reach a route
    return app
