"""Shared benchmark plumbing: a throw-away OneVault stack run as production runs it, a lean
HTTP/1.1 keep-alive load client, and percentile/process statistics.

The stack: embedded PostgreSQL + Redis under a temporary ONEVAULT_HOME, the simulator in its own
process (zero latency by default), and the gateway as docker-compose runs it in production:
``onevault serve --no-loader`` (uvicorn, uvloop, httptools, N workers) plus one ``onevault
loader`` process — so "through the gateway" includes auth, routing, pricing and the durable
event emit to Redis, while PostgreSQL loading happens beside it, as it does in production.

The client is a minimal asyncio HTTP/1.1 client (pre-built request bytes, keep-alive, one
connection per concurrent worker) so the measuring side costs as little CPU as possible on a
small machine; it is the same client for the direct and the gateway runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gateway.admin.customers import CustomerConfig, create_customer
from gateway.admin.keys import create_gateway_key
from gateway.cli.up import simulator_catalog
from warehouse.db import connect, create_pool
from warehouse.embedded import ensure_servers, stop_servers
from warehouse.migrations import migrate
from warehouse.settings import Settings

RESULTS = Path(__file__).parent / "results"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Stack:
    home: Path
    settings: Settings
    env: dict[str, str]
    gateway_url: str
    simulator_url: str
    key: str
    database_url: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def gateway_pids(self) -> list[int]:
        """The uvicorn master and its workers."""
        master = self.processes["gateway"].pid
        children = Path(f"/proc/{master}/task/{master}/children")
        kids = [int(p) for p in children.read_text().split()] if children.exists() else []
        return [master, *kids]


async def _bootstrap(database_url: str) -> str:
    conn = await connect(database_url)
    await migrate(conn)
    await conn.close()
    pool = await create_pool(database_url, min_size=1, max_size=2)
    try:
        # No limits of its own: the gateway's per-process default applies (raised in
        # running_stack's environment above the highest level measured). The enterprise tier
        # has no default rate limits or token quota (dbt_project/seeds/tiers.csv), so the
        # benchmark measures the same path as before tiers had limits: no Redis round trip
        # for admission.
        config = CustomerConfig(display_name="Benchmark", tier="enterprise")
        await create_customer(pool, "bench", config, changed_by="bench")
        return (await create_gateway_key(pool, "bench", changed_by="bench", label="bench")).key
    finally:
        await pool.close()


@asynccontextmanager
async def running_stack(*, workers: int, simulator_args: tuple[str, ...] = ()) -> AsyncIterator[Stack]:
    home = Path(tempfile.mkdtemp(prefix="ov-bench-"))
    env = {
        **os.environ,
        "ONEVAULT_HOME": str(home),
        "ONEVAULT_PG_PORT": str(free_port()),
        "ONEVAULT_REDIS_PORT": str(free_port()),
        "ONEVAULT_GATEWAY_PORT": str(free_port()),
        "ONEVAULT_WORKERS": str(workers),
        "ONEVAULT_MAX_CONCURRENT_PER_CUSTOMER": "10000",  # counted, never reached: no 429s
    }
    env.pop("ONEVAULT_DATABASE_URL", None)
    env.pop("ONEVAULT_REDIS_URL", None)
    settings = Settings(
        home=home, pg_port=int(env["ONEVAULT_PG_PORT"]), redis_port=int(env["ONEVAULT_REDIS_PORT"])
    )
    endpoints = ensure_servers(settings)
    processes: dict[str, subprocess.Popen] = {}
    try:
        key = await _bootstrap(endpoints.database_url)
        sim_port = free_port()
        processes["simulator"] = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [sys.executable, "-m", "gateway.simulator", "--port", str(sim_port), *simulator_args], env=env
        )
        simulator_url = f"http://127.0.0.1:{sim_port}"
        (home / "providers.json").write_text(json.dumps(simulator_catalog(simulator_url)))
        onevault = str(VENV_BIN / "onevault")
        processes["gateway"] = subprocess.Popen([onevault, "serve", "--no-loader"], env=env)  # noqa: ASYNC220
        processes["loader"] = subprocess.Popen([onevault, "loader"], env=env)  # noqa: ASYNC220
        gateway_url = f"http://127.0.0.1:{env['ONEVAULT_GATEWAY_PORT']}"
        await asyncio.to_thread(wait_http, f"{simulator_url}/_sim/stats")
        await asyncio.to_thread(wait_http, f"{gateway_url}/health")
        yield Stack(home, settings, env, gateway_url, simulator_url, key, endpoints.database_url, processes)
    finally:
        for proc in processes.values():
            proc.send_signal(signal.SIGTERM)
        for proc in processes.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        stop_servers(settings)
        shutil.rmtree(home, ignore_errors=True)


# -- the load client ----------------------------------------------------------------------------
def build_request(url: str, path: str, body: dict, headers: dict[str, str]) -> tuple[str, int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"host: {host}:{port}",
        "content-type: application/json",
        f"content-length: {len(payload)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return host, int(port), ("\r\n".join(head) + "\r\n\r\n").encode() + payload


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request; return (status, body). Handles content-length and chunked bodies."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, chunked = None, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None:
            return status, await self.reader.readexactly(length)
        body = bytearray()
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    return status, bytes(body)
                body += chunk[:-2]
        return status, bytes(body)

    async def request_stream(self, raw: bytes) -> tuple[int, float, float]:
        """Send one streaming request; return (status, ms to the first SSE event, ms in all).
        The response is chunked; the first chunk holding ``data:`` is the first token."""
        t0 = time.perf_counter()
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        first = None
        if b"chunked" not in head.lower():
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await self.reader.readexactly(length)
        else:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if first is None and b"data:" in chunk:
                    first = time.perf_counter()
                if size == 0:
                    break
        done = time.perf_counter()
        return status, ((first or done) - t0) * 1000, (done - t0) * 1000

    def close(self) -> None:
        self.writer.close()


@dataclass
class RunResult:
    latencies_ms: list[float]
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0


async def run_load(target: tuple[str, int, bytes], total: int, concurrency: int) -> RunResult:
    host, port, raw = target
    latencies: list[float] = []
    errors = 0
    remaining = total

    async def worker() -> None:
        nonlocal remaining, errors
        conn = await Connection.open(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                t0 = time.perf_counter()
                status, _ = await conn.request(raw)
                elapsed = (time.perf_counter() - t0) * 1000
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors += 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return RunResult(latencies, errors, time.perf_counter() - started)


@dataclass
class StreamResult:
    ttft_ms: list[float]  # time to the first token (first SSE event)
    total_ms: list[float]
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return len(self.total_ms) / self.seconds if self.seconds else 0.0


async def run_stream_load(target: tuple[str, int, bytes], total: int, concurrency: int) -> StreamResult:
    host, port, raw = target
    result = StreamResult([], [], 0, 0.0)
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        conn = await Connection.open(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                status, ttft, whole = await conn.request_stream(raw)
                if status == 200:
                    result.ttft_ms.append(ttft)
                    result.total_ms.append(whole)
                else:
                    result.errors += 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


# -- statistics -----------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values, q), 3) for q in (50, 95, 99)}


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks


def rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except FileNotFoundError:
            continue
    return round(total_kb / 1024, 1)


def print_table(rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols))


def write_json(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
