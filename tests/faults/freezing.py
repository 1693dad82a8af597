"""Freezing a server (SIGSTOP: its sockets stay open, so clients hang instead of failing) and a
load that times every request, for the frozen-dependency fault tests.

A frozen server is the failure a crash-only test never sees: connections are accepted by the
kernel and nothing ever answers, so only the client's own timeouts end a wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import psutil

from tests.faults.faultkit import BODY

CLIENT_TIMEOUT_S = 30.0  # what a patient client waits before it gives up


def process_tree(pid: int) -> list[psutil.Process]:
    """``pid`` and every process below it (PostgreSQL: the postmaster and its backends)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """Stop ``pid`` and its children (parent first: it cannot fork new ones); continue them after."""
    procs = process_tree(pid)
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)


@dataclass
class TimedLoad:
    """A few clients sending requests back to back; every answer kept with how long it took."""

    url: str
    key: str
    clients: int = 4
    pause_s: float = 0.05
    statuses: dict[str, int] = field(default_factory=dict)  # request id -> HTTP status
    codes: Counter = field(default_factory=Counter)  # error code (or transport error) -> count
    timeline: list[tuple[float, float, int]] = field(default_factory=list)  # (started, seconds, status)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def ok_ids(self) -> set[str]:
        return {rid for rid, status in self.statuses.items() if status == 200}

    def between(self, start: float, end: float) -> list[tuple[float, float, int]]:
        return [t for t in self.timeline if start <= t[0] < end]

    def slowest(self) -> float:
        return max((seconds for _, seconds, _ in self.timeline), default=0.0)

    def start(self) -> TimedLoad:
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(self.clients)]
        return self

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _client(self, n: int) -> None:
        headers = {"authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=CLIENT_TIMEOUT_S) as c:
            i = 0
            while not self._stop.is_set():
                i += 1
                body = {**BODY, "prompt": f"{BODY['prompt']} {n}-{i}"}
                started = time.monotonic()
                try:
                    r = await c.post("/v1/ai/completions", json=body)
                except httpx.HTTPError as exc:
                    self.codes[type(exc).__name__] += 1
                    self.timeline.append((started, time.monotonic() - started, 0))
                    continue
                self.timeline.append((started, time.monotonic() - started, r.status_code))
                data = r.json()
                if r.status_code == 200:
                    self.statuses[data["id"]] = 200
                else:
                    self.statuses[data["error"]["request_id"]] = r.status_code
                    self.codes[data["error"]["code"]] += 1
                await asyncio.sleep(self.pause_s)
