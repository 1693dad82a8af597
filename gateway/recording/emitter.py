"""Emit one event per request before the response completes, without waiting for PostgreSQL."""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway import metrics
from gateway.recording.spool import Spool
from warehouse.events import RequestEvent

log = logging.getLogger("onevault.events")


class EventEmitter:
    def __init__(self, redis: aioredis.Redis, stream: str, spool: Spool, *, max_len: int = 5_000_000) -> None:
        self.redis = redis
        self.stream = stream
        self.spool = spool
        self.max_len = max_len

    async def emit(self, event: RequestEvent) -> str:
        """Record the event durably; returns where it went ("stream" or "spool").

        Raises SpoolError only when both Redis and the local disk refuse it: the caller must
        then fail the request rather than answer without a record.
        """
        data = event.to_json()
        try:
            await self.redis.xadd(self.stream, {"event": data})
            return "stream"
        except (RedisError, OSError) as exc:
            log.warning("event stream unavailable (%s); spooling %s", type(exc).__name__, event.request_id)
        await asyncio.to_thread(self.spool.append, data)
        metrics.EVENTS_SPOOLED.inc()
        return "spool"

    async def replay_spool(self) -> int:
        """Move spooled events into the stream; safe to repeat (loads are idempotent)."""
        if not self.spool.pending():
            return 0
        with self.spool.drain() as lines:
            if lines:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for line in lines:
                        pipe.xadd(self.stream, {"event": line})
                    await pipe.execute()
        return len(lines)

    async def run_replayer(self, interval: float = 1.0) -> None:
        while True:
            try:
                replayed = await self.replay_spool()
                if replayed:
                    log.info("replayed %d spooled event(s) into the stream", replayed)
            except (RedisError, OSError):
                pass
            await asyncio.sleep(interval)
