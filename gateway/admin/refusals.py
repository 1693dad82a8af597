"""Refused admin calls (no or a wrong admin token) are recorded in batches: anyone can send them,
so each must not cost a vault transaction (and the loaders' turn lock) of its own.

They queue in memory — bounded: past ``MAX_PENDING`` a refusal is only counted, and the count is
recorded as one ``admin.refusals_dropped`` row — and are written together every ``FLUSH_S``
seconds, one transaction per ``BATCH`` refusals; a write that fails keeps them for the next try,
and the gateway flushes what is left when it stops. Each row keeps the time of the refusal.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import datetime, timezone

import asyncpg

from gateway.admin.audit import AdminAction, add_admin_action
from warehouse.batch import VaultBatch
from warehouse.loader import VaultLoader

log = logging.getLogger("onevault.admin")

MAX_PENDING = 10_000
FLUSH_S = 0.25
BATCH = 500


class RefusalRecorder:
    def __init__(
        self, pool: asyncpg.Pool, *, flush_s: float = FLUSH_S, max_pending: int = MAX_PENDING
    ) -> None:
        self.pool = pool
        self.flush_s = flush_s
        self.max_pending = max_pending
        self._pending: deque[tuple[AdminAction, datetime]] = deque()
        self._dropped = 0

    def record(self, action: AdminAction) -> None:
        """Queue one refusal (never waits on PostgreSQL)."""
        if len(self._pending) >= self.max_pending:
            self._dropped += 1
            return
        self._pending.append((action, datetime.now(timezone.utc)))

    def __len__(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Write everything queued; returns how many rows were written."""
        if self._dropped:
            dropped, self._dropped = self._dropped, 0
            detail = f"{dropped} refused admin calls not recorded one by one (queue full)"
            self._pending.append(
                (
                    AdminAction(
                        "unauthenticated", "admin.refusals_dropped", outcome="refused", detail=detail
                    ),
                    datetime.now(timezone.utc),
                )
            )
        written = 0
        while self._pending:
            chunk = [self._pending.popleft() for _ in range(min(BATCH, len(self._pending)))]
            batch = VaultBatch()
            for action, at in chunk:
                add_admin_action(batch, action, at)
            try:
                await VaultLoader(self.pool).load(batch)
            except BaseException:
                self._pending.extendleft(reversed(chunk))
                raise
            written += len(chunk)
        return written

    async def run(self) -> None:
        """Flush every ``flush_s`` seconds for the life of the gateway (backing off while the
        vault is unreachable)."""
        delay = self.flush_s
        while True:
            await asyncio.sleep(delay)
            try:
                await self.flush()
                delay = self.flush_s
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning(
                    "%d admin refusals not recorded yet (%s); will retry", len(self), type(exc).__name__
                )
                delay = min(delay * 2, 5.0)
