"""Queueing the ``spend.anomaly`` webhook for new flags of ``marts.spend_anomalies``.

The flags are computed by dbt (docs/billing/anomalies.md), not on the request path, so a
background task of the gateway looks for new ones every ``interval_s`` and puts each on the same
Redis stream as budget alerts; the ``AlertWorker`` delivers it the same way (signed POST to the
customer's webhook URL, retries with backoff, every attempt recorded — for anomalies in
``raw_vault.sat_anomaly_alert_delivery``, sql/019). Sent once: a flag already in the vault's
``hub_anomaly_alert`` is not new (warehouse/anomalies.py), and between queueing and the first
recorded attempt a ``SET NX`` claim in Redis keeps other gateway processes (and the next scan)
from queueing it again. The claim outlives the flag's "new" window, so a lost Redis costs at most
a duplicate the receiver can drop by ``alert_id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.alerts.thresholds import STREAM
from warehouse import tables as t
from warehouse.anomalies import NEW_WITHIN, Anomaly, unsent_anomalies
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader

log = logging.getLogger("onevault.alerts")

TYPE = "spend.anomaly"
SOURCE = "alerts"
_CLAIM_TTL_S = int(NEW_WITHIN.total_seconds()) + 86_400


def anomaly_job(a: Anomaly) -> dict[str, Any]:
    """The job and webhook payload of one flag (``type`` decides how the worker records it)."""
    return {
        "type": TYPE,
        "alert_id": a.anomaly_id,
        "customer": a.customer_slug,
        **{k: v for k, v in a.as_json().items() if k not in ("anomaly_id", "customer_slug")},
        "kind": a.anomaly,
        "detected_at": datetime.now(timezone.utc).isoformat(),
        "attempt": 1,
    }


async def queue_new_anomalies(pool: asyncpg.Pool, redis: aioredis.Redis, stream: str = STREAM) -> int:
    """Queue every flag not yet sent nor claimed; returns how many were queued."""
    queued = 0
    for a in await unsent_anomalies(pool):
        if await redis.set(f"ov:anomaly-alert:{a.anomaly_id}", 1, nx=True, ex=_CLAIM_TTL_S):
            await redis.xadd(stream, {"job": json.dumps(anomaly_job(a))})
            queued += 1
    return queued


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


async def record_anomaly_delivery(
    pool: asyncpg.Pool, job: dict[str, Any], url: str, status: int | None, outcome: str, error: str | None
) -> None:
    """One delivery attempt of a flag, into the vault: from then on the flag is not new."""
    batch = VaultBatch()
    hk = batch.hub(t.HUB_ANOMALY_ALERT, job["alert_id"], record_source=SOURCE)
    customer = batch.hub(t.HUB_CUSTOMER, job["customer"], record_source=SOURCE)
    batch.link(
        t.LNK_ANOMALY_ALERT_CUSTOMER, (hk, customer), (job["alert_id"], job["customer"]), record_source=SOURCE
    )
    batch.sat(
        t.SAT_ANOMALY_ALERT_DELIVERY,
        hk,
        t.SAT_ANOMALY_ALERT_DELIVERY.row(
            hour_start=datetime.fromisoformat(job["hour_start"]),
            kind=job["kind"],
            gateway_key_id=job.get("gateway_key_id"),
            provider=job.get("provider"),
            model=job.get("model"),
            requests=int(job["requests"]),
            requests_median=_decimal(job.get("requests_median")),
            customer_cost=Decimal(job["customer_cost"]),
            spend_median=_decimal(job.get("spend_median")),
            webhook_url=url,
            attempted_ts=datetime.now(timezone.utc),
            http_status=status,
            outcome=outcome,
            error=(error or "")[:300] or None,
        ),
        record_source=SOURCE,
        sub_key=int(job["attempt"]),
    )
    await VaultLoader(pool).load(batch)


class AnomalyAlerts:
    """The gateway's background task: scan for new flags, queue them; never fails the gateway."""

    def __init__(
        self, pool: asyncpg.Pool, redis: aioredis.Redis, *, stream: str = STREAM, interval_s: float = 60.0
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.stream = stream
        self.interval_s = interval_s

    async def run(self) -> None:
        while True:
            try:
                await queue_new_anomalies(self.pool, self.redis, self.stream)
            except (RedisError, OSError, asyncpg.PostgresError) as exc:
                log.warning("anomaly alerts: %s; retrying at the next scan", type(exc).__name__)
            await asyncio.sleep(self.interval_s)
