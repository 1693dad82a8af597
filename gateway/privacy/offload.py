"""PII screening off the event loop: a large text is scanned in a small thread pool of its own,
so one request's scan never stalls the other requests a worker is serving (a small one is
scanned in place: a thread hop would cost more than the scan).

The pool is small on purpose: the regex engine and libphonenumber hold the GIL while they run,
so more threads would not scan faster, and a flood of large requests then waits for the pool
instead of taking every core from the event loop (the default executor, which other work
shares, stays free). Each customer has at most one scan in the pool at a time, so one tenant's
flood of large prompts queues behind itself, not in front of everyone else's.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Final

from gateway.privacy.policy import PiiMode, PiiScreening, scanned_chars, screen
from gateway.providers.types import ChatMessage

INLINE_CHARS: Final = 4096  # up to this much text, scanning costs about as much as a thread hop
SCAN_THREADS: Final = 2
_POOL = ThreadPoolExecutor(max_workers=SCAN_THREADS, thread_name_prefix="pii-scan")


class ScanPool:
    """``gateway.privacy.policy.screen`` for the request path (one per application: the
    per-customer turns belong to its event loop)."""

    def __init__(self, max_chars: int | None = None) -> None:
        self.max_chars = max_chars  # ONEVAULT_PII_MAX_SCAN_CHARS
        self._turns: dict[str, asyncio.Lock] = {}  # per customer: one scan in the pool at a time

    async def screen(
        self, customer: str, messages: list[ChatMessage], mode: PiiMode | str, *, region: str = "US"
    ) -> PiiScreening:
        mode = PiiMode(mode)
        size = 0 if mode is PiiMode.OFF else scanned_chars(messages)
        refused = self.max_chars is not None and size > self.max_chars and mode is not PiiMode.FLAG
        if size <= INLINE_CHARS or refused:  # small, or refused before anything is scanned
            return screen(messages, mode, region=region, max_chars=self.max_chars)
        job = partial(screen, messages, mode, region=region, max_chars=self.max_chars)
        async with self._turns.setdefault(customer, asyncio.Lock()):
            return await asyncio.get_running_loop().run_in_executor(_POOL, job)
