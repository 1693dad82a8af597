"""The gateway's background loops (spool replay, statistics flush, alerts, the vault loader) run
for the life of the process: one that raises is logged and started again, never left dead."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("onevault.background")


async def supervised(name: str, run: Callable[[], Awaitable[None]], *, max_backoff_s: float = 30.0) -> None:
    """Run ``run()`` until it returns (a deliberate stop) or the task is cancelled."""
    backoff = 0.5
    while True:
        try:
            await run()
            return
        except Exception:
            log.exception("background task %s failed; restarting in %.1f s", name, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff_s)


def start(name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    return asyncio.create_task(supervised(name, run), name=name)
