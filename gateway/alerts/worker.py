"""Delivering budget alerts: a background worker, never on the request path.

Jobs come from the Redis stream ``ov:alerts`` (consumer group ``alerts``: several gateway
processes share the work, each job goes to one). A delivery is a signed JSON POST to the
customer's ``budget_webhook_url`` as configured *now*; a 2xx answer is success. Failures are
retried with exponential backoff (``backoff_s`` × 2^(attempt-1)) through a Redis sorted set of
due times, up to ``max_attempts``; then the alert is given up. Every attempt — delivered,
failed or given up — is a row of ``raw_vault.sat_budget_alert_delivery``; a job whose ``type``
is ``spend.anomaly`` (gateway/alerts/anomalies.py) is recorded in
``raw_vault.sat_anomaly_alert_delivery`` instead, and its payload's ``type`` is the job's.

The URL is the customer's: the client connects only to addresses the egress policy allows
(public ones, or ``ONEVAULT_EGRESS_ALLOW``), checked at connect time, and never reads the
receiver's answer body — only its status — so a hostile receiver cannot fill the worker's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from gateway.admin.customers import AdminError, current_config
from gateway.alerts.anomalies import TYPE as ANOMALY
from gateway.alerts.anomalies import record_anomaly_delivery
from gateway.alerts.signing import HEADER, sign
from gateway.alerts.thresholds import STREAM
from gateway.alerts.webhook_secrets import webhook_secret
from gateway.crypto import KeyRing
from gateway.egress import EgressPolicy
from gateway.egress.connect import guarded_transport
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader

log = logging.getLogger("onevault.alerts")
GROUP = "alerts"
SOURCE = "alerts"


class AlertWorker:
    def __init__(
        self,
        redis: aioredis.Redis,
        pool: asyncpg.Pool,
        keyring: KeyRing,
        *,
        stream: str = STREAM,
        max_attempts: int = 5,
        backoff_s: float = 2.0,
        timeout_s: float = 5.0,
        egress: EgressPolicy | None = None,
    ) -> None:
        self.redis = redis
        self.egress = egress or EgressPolicy()
        self.pool = pool
        self.keyring = keyring
        self.stream = stream
        self.retry_key = f"{stream}:retry"
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.consumer = f"{socket.gethostname()}-{id(self):x}"

    def client(self) -> httpx.AsyncClient:
        """The delivery client: egress-guarded, no redirects, no proxies from the environment."""
        return httpx.AsyncClient(
            timeout=self.timeout_s, trust_env=False, transport=guarded_transport(self.egress)
        )

    async def run(self) -> None:
        async with self.client() as client:
            while True:
                try:
                    await self.step(client)
                except (RedisError, OSError, asyncpg.PostgresError) as exc:
                    log.warning("alert worker: %s; retrying shortly", type(exc).__name__)
                    await asyncio.sleep(1.0)

    async def step(self, client: httpx.AsyncClient, block_ms: int = 500) -> int:
        """Deliver what is due: retries whose time has come, then new jobs. Returns how many."""
        done = 0
        due: Any = await self.redis.zrangebyscore(self.retry_key, 0, time.time(), start=0, num=50)
        for raw in due:
            if await self.redis.zrem(self.retry_key, raw):  # claimed by this worker only
                await self.deliver(client, json.loads(raw))
                done += 1
        with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        reply: Any = await self.redis.xreadgroup(
            GROUP, self.consumer, {self.stream: ">"}, count=50, block=block_ms
        )
        for _, entries in reply or []:
            for entry_id, fields in entries:
                job = json.loads(fields.get(b"job") or fields.get("job"))
                await self.deliver(client, job)
                await self.redis.xack(self.stream, GROUP, entry_id)
                done += 1
        return done

    async def deliver(self, client: httpx.AsyncClient, job: dict[str, Any]) -> str:
        attempt = int(job["attempt"])
        status: int | None = None
        error: str | None = None
        url: str | None = None
        try:
            config = await current_config(self.pool, job["customer"])
            url = config.budget_webhook_url
            secret = await webhook_secret(self.pool, self.keyring, job["customer"]) if url else None
        except AdminError as exc:
            url, secret, error = None, None, str(exc)
        if not url or secret is None:
            error = error or ("no budget_webhook_url" if not url else "no webhook secret")
            await self._record(job, url or "", None, "gave_up", error)
            return "gave_up"
        body = json.dumps({"type": "budget.threshold_reached", **job, "currency": config.currency}).encode()
        headers = {
            "content-type": "application/json",
            HEADER: sign(secret, body),
            "x-onevault-delivery": f"{job['alert_id']}#{attempt}",
        }
        try:
            async with client.stream("POST", url, content=body, headers=headers) as answer:
                status = answer.status_code  # the body is never read: only the status matters
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if status is not None and 200 <= status < 300:
            outcome = "delivered"
        else:
            error = error or f"HTTP {status}"
            outcome = "gave_up" if attempt >= self.max_attempts else "failed"
        await self._record(job, url, status, outcome, error)
        if outcome == "failed":
            due = time.time() + self.backoff_s * 2 ** (attempt - 1)
            await self.redis.zadd(self.retry_key, {json.dumps(job | {"attempt": attempt + 1}): due})
        return outcome

    async def _record(
        self, job: dict[str, Any], url: str, status: int | None, outcome: str, error: str | None
    ) -> None:
        if job.get("type") == ANOMALY:  # a spend.anomaly flag: its own hub (sql/019)
            await record_anomaly_delivery(self.pool, job, url, status, outcome, error)
            return
        batch = VaultBatch()
        hk = batch.hub(t.HUB_BUDGET_ALERT, job["alert_id"], record_source=SOURCE)
        customer = batch.hub(t.HUB_CUSTOMER, job["customer"], record_source=SOURCE)
        batch.link(
            t.LNK_BUDGET_ALERT_CUSTOMER,
            (hk, customer),
            (job["alert_id"], job["customer"]),
            record_source=SOURCE,
        )
        batch.sat(
            t.SAT_BUDGET_ALERT_DELIVERY,
            hk,
            t.SAT_BUDGET_ALERT_DELIVERY.row(
                scope=job["scope"],
                period=job["period"],
                period_start=date.fromisoformat(job["period_start"]),
                threshold_pct=int(job["threshold_pct"]),
                budget=Decimal(job["budget"]),
                spent=Decimal(job["spent"]),
                webhook_url=url,
                attempted_ts=datetime.now(timezone.utc),
                http_status=status,
                outcome=outcome,
                error=(error or "")[:300] or None,
            ),
            record_source=SOURCE,
            sub_key=int(job["attempt"]),
        )
        await VaultLoader(self.pool).load(batch)
