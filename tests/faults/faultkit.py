"""Shared plumbing for the fault-injection tests: a gateway on loopback (in a thread, or as a
real ``onevault serve`` process that can be SIGKILLed), a steady load of a few concurrent
clients that remembers every answer by request id, and the vault-side count to compare with.

Kept out of conftest.py: helpers here, fixtures there (tests import both as ``tests.faults.…``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

from gateway.admin.customers import CustomerConfig, create_customer
from gateway.admin.keys import create_gateway_key
from gateway.cli.up import simulator_catalog
from warehouse.settings import Settings

GHOST = "decode(repeat('00', 32), 'hex')"
# One row per recorded request: its id and how many detail rows it has (1 = no duplicate).
REQUEST_ROWS = (
    "select h.api_request_bk as id, count(d.*) as n from raw_vault.hub_api_request h "
    f"left join raw_vault.sat_api_request_details d using (api_request_hk) where h.api_request_hk <> {GHOST} "
    "group by 1"
)
BODY = {"prompt": "a steady load", "model": "gpt-4o-mini", "max_tokens": 16}


class GatewayProcess:
    """``onevault serve`` as production runs it, in its own process group (killable as a whole)."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> GatewayProcess:
        onevault = Path(sys.executable).parent / "onevault"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(onevault), "serve", "--port", str(self.port), "--workers", "1"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError(f"gateway did not come up: {self.log.read_text()[-2000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@dataclass
class Load:
    """A few clients sending requests back to back (with a short pause) until stopped."""

    url: str
    key: str
    clients: int = 4
    pause_s: float = 0.02
    body: dict = field(default_factory=lambda: dict(BODY))
    statuses: dict[str, int] = field(default_factory=dict)  # request id -> HTTP status
    codes: Counter = field(default_factory=Counter)  # error code (or transport error) -> count
    timeline: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, status; 0 = no answer)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def ok_ids(self) -> set[str]:
        return {rid for rid, status in self.statuses.items() if status == 200}

    def non_200(self) -> int:
        return sum(1 for _, status in self.timeline if status != 200)

    def start(self) -> Load:
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(self.clients)]
        return self

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _client(self, n: int) -> None:
        headers = {"authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30) as c:
            i = 0
            while not self._stop.is_set():
                i += 1
                body = {**self.body, "prompt": f"{self.body['prompt']} {n}-{i}"}
                try:
                    r = await c.post("/v1/ai/completions", json=body)
                except httpx.HTTPError as exc:
                    self.codes[type(exc).__name__] += 1
                    self.timeline.append((time.monotonic(), 0))
                    await asyncio.sleep(0.1)
                    continue
                data = r.json()
                rid = data["id"] if r.status_code == 200 else data["error"]["request_id"]
                self.statuses[rid] = r.status_code
                self.timeline.append((time.monotonic(), r.status_code))
                if r.status_code != 200:
                    self.codes[data["error"]["code"]] += 1
                await asyncio.sleep(self.pause_s)


async def vault_requests(dsn: str) -> dict[str, int]:
    """Request id -> number of request-detail rows, as the vault holds them now."""
    conn = await asyncpg.connect(dsn)
    try:
        return {r["id"]: r["n"] for r in await conn.fetch(REQUEST_ROWS)}
    finally:
        await conn.close()


async def wait_for_vault(dsn: str, ids: set[str], timeout: float = 60.0) -> dict[str, int]:
    """Poll until every id is in the vault (the loader is asynchronous) or the time is up."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            rows = await vault_requests(dsn)
            if ids <= rows.keys() or time.monotonic() > deadline:
                return rows
        if time.monotonic() > deadline:
            return {}
        await asyncio.sleep(0.25)


async def assert_in_vault_exactly_once(
    dsn: str, answered: set[str], gateway: object, redis_url: str, timeout: float = 60
) -> None:
    """Every answered request is in the vault once, and nothing else is (the loader's state in the
    failure message)."""
    rows = await wait_for_vault(dsn, answered, timeout=timeout)
    missing = answered - rows.keys()
    assert not missing, (
        f"{len(missing)} of {len(answered)} answered requests missing from the vault; "
        f"{await loader_report(gateway, redis_url)}"
    )
    assert rows.keys() - answered == set(), "the vault holds requests nobody was answered for"
    assert set(rows.values()) == {1}, "a request was recorded twice"


async def loader_report(gateway: object, redis_url: str) -> str:
    """What an in-process gateway's vault loader and its stream say, for a failure message."""
    app = gateway.server.config.app  # type: ignore[attr-defined]
    loader, stream = app.state.loader, app.state.emitter.stream
    redis = aioredis.Redis.from_url(redis_url)
    try:
        length, pending = await redis.xlen(stream), await redis.xpending(stream, "vault-loader")
    finally:
        await redis.aclose()
    spool = sorted(p.name for p in app.state.spool.directory.glob("*"))
    tasks = []
    for task in app.state.background:
        stack = io.StringIO()
        if task.done():
            stack.write(repr(task.exception() if not task.cancelled() else "cancelled"))
        else:
            task.print_stack(file=stack)
        tasks.append(f"{task.get_name()}: {stack.getvalue()}")
    summary = f"loader {loader.stats}; stream length {length}, pending {pending}; spool {spool}"
    return "\n".join([summary, *tasks])


def env_for(**values: str) -> dict[str, str]:
    """The current environment with ``ONEVAULT_*`` replaced by ``values`` (for subprocesses)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEVAULT_")}
    env.update({f"ONEVAULT_{k.upper()}": v for k, v in values.items()})
    return env


def write_catalog(home: Path, sim_url: str, **per_provider: dict) -> Path:
    """The simulator catalog ``onevault up`` writes, with optional per-provider overrides."""
    catalog = simulator_catalog(sim_url)
    for provider in catalog["providers"]:
        provider.update(per_provider.get(provider["name"], {}))
    path = home / "providers.json"
    path.write_text(json.dumps(catalog))
    return path


def fault_settings(home: Path, **overrides: object) -> Settings:
    return Settings(
        home=home,
        event_stream=f"faults:{uuid.uuid4().hex}",
        loader_block_ms=50,
        loader_linger_ms=20,
        **overrides,
    )


async def issue_key(dsn: str, customer: str = "acme", **config: object) -> str:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        # Enterprise unless told otherwise: the load these tests send is past a smaller tier's
        # default requests per minute, and the faults, not the plan, are what they test.
        settings = {"tier": "enterprise", **config}
        await create_customer(
            pool, customer, CustomerConfig(display_name=customer.title(), **settings), changed_by="faults"
        )
        return (await create_gateway_key(pool, customer, changed_by="faults", label="faults")).key
    finally:
        await pool.close()


async def clear_breakers(redis_url: str) -> None:
    """Breaker state is per provider and model, not per test: start each test closed."""
    redis = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in redis.scan_iter("ov:cb:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()
