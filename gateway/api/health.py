"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from gateway import metrics

router = APIRouter()


@router.get("/health")
async def health() -> dict:
    return {"status": "ok"}


async def _check(coro: object, timeout: float = 1.0) -> str | None:
    try:
        await asyncio.wait_for(coro, timeout)  # type: ignore[arg-type]
        return None
    except Exception as exc:  # any failure is a "not ready" answer, never a 500
        return f"{type(exc).__name__}: {exc}"[:200]


@router.get("/ready")
async def ready(request: Request) -> Response:
    """Ready = requests can be answered *and* recorded: Redis or the spool must take events.

    PostgreSQL being down degrades (events wait in the stream) but does not stop traffic.
    """
    state = request.app.state
    pg_error = await _check(state.pool.fetchval("select 1"))
    redis_error = await _check(state.redis.ping())
    spool_error = await asyncio.to_thread(state.spool.problem)
    spool_ok = spool_error is None
    lag = await state.loader.lag_seconds() if state.loader is not None else 0.0
    metrics.LOADER_LAG.set(lag)
    can_record = redis_error is None or spool_ok
    body = {
        "status": "ok"
        if (pg_error is None and redis_error is None and spool_ok)
        else ("degraded" if can_record else "unavailable"),
        "postgres": {"ok": pg_error is None, "error": pg_error},
        "redis": {"ok": redis_error is None, "error": redis_error},
        "spool": {
            "ok": spool_ok,
            "path": str(state.spool.directory),
            "error": spool_error,
        },
        "loader": {"lag_seconds": round(lag, 3), "in_process": state.loader is not None},
    }
    return JSONResponse(body, status_code=200 if can_record else 503)


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    if request.app.state.loader is not None:
        metrics.LOADER_LAG.set(await request.app.state.loader.lag_seconds())
        metrics.LOADER_EVENTS.set(request.app.state.loader.stats.loaded_events)
        metrics.LOADER_DEAD_LETTERED.set(request.app.state.loader.stats.dead_lettered)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
