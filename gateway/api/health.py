"""Liveness, readiness and Prometheus metrics.

``/health`` is public. ``/ready`` answers anyone with its status code and ``{"status"}`` (what a
load balancer or a container health check needs; computed at most once a second for them), and
the operator (the admin token, gateway/api/operator.py) with the details. ``/metrics`` is for the
operator only.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from gateway import metrics
from gateway.api.operator import is_operator, require_operator

router = APIRouter()
SUMMARY_TTL_S = 1.0  # how stale an anonymous /ready may be (a flood of them costs one check a second)


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
    if is_operator(request):
        status, body = await _readiness(request)
        return JSONResponse(body, status_code=status)
    state = request.app.state
    cached: tuple[float, int, str] | None = getattr(state, "ready_summary", None)
    if cached is None or time.monotonic() - cached[0] > SUMMARY_TTL_S:
        status, body = await _readiness(request)
        cached = state.ready_summary = (time.monotonic(), status, body["status"])
    return JSONResponse({"status": cached[2]}, status_code=cached[1])


async def _readiness(request: Request) -> tuple[int, dict[str, Any]]:
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
    return (200 if can_record else 503), body


@router.get("/metrics")
async def prometheus(request: Request) -> Response:
    require_operator(request)
    if request.app.state.loader is not None:
        metrics.LOADER_LAG.set(await request.app.state.loader.lag_seconds())
        metrics.LOADER_EVENTS.set(request.app.state.loader.stats.loaded_events)
        metrics.LOADER_DEAD_LETTERED.set(request.app.state.loader.stats.dead_lettered)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
