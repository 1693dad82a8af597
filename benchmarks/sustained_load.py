"""Benchmark: a fixed request rate near capacity for a long time, through the gateway run as
production runs it (``onevault serve --no-loader`` with one worker per core, plus one
``onevault loader`` process; zero-latency simulator; vault persistence on).

Open loop: request *i* is due at ``start + i / rate`` whatever happened to the ones before it,
and its latency is counted from when it was due (so a stall shows up as latency, not as a
quietly lower rate — no coordinated omission). Per 10-second window it reports achieved RPS,
p50/p99 latency and errors; sampled each second: loader lag (age of the oldest event still in
the stream), PostgreSQL and Redis memory, gateway RSS. At the end, after the loader drains:
**requests answered = request rows in the vault**, exactly.

Target: loader lag stays under 2 s at 1,000 RPS. Writes benchmarks/results/sustained_load.json.

    python benchmarks/sustained_load.py [--duration 600] [--rate 800] [--connections 64] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from harness import (
    Connection,
    Stack,
    build_request,
    percentile,
    print_table,
    rss_mb,
    running_stack,
    write_json,
)

from warehouse.embedded import embedded_redis

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Steady as she goes."}]}
WINDOW_S = 10
REQUESTS_IN_VAULT = "select count(*) - 1 from raw_vault.hub_api_request"  # minus the ghost row


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (PostgreSQL's backends, uvicorn's workers)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        children = Path(f"/proc/{p}/task/{p}/children")
        if children.exists():
            todo.extend(int(c) for c in children.read_text().split())
    return pids


def postmaster_pid(home: Path) -> int:
    return int((home / "pg" / "postmaster.pid").read_text().split()[0])


async def sampler(
    stack: Stack, redis: aioredis.Redis, stream: str, samples: list[dict], stop: asyncio.Event
) -> None:
    started = time.monotonic()
    pg = postmaster_pid(stack.home)
    while not stop.is_set():
        first = await redis.xrange(stream, count=1)
        lag = max(0.0, time.time() - int(first[0][0].split(b"-")[0]) / 1000) if first else 0.0
        info = await redis.info("memory")
        samples.append(
            {
                "t": round(time.monotonic() - started, 1),
                "loader_lag_s": round(lag, 3),
                "stream_len": await redis.xlen(stream),
                "redis_used_mb": round(info["used_memory"] / 2**20, 1),
                "redis_rss_mb": round(info["used_memory_rss"] / 2**20, 1),
                "postgres_rss_mb": rss_mb(process_tree(pg)),
                "gateway_rss_mb": rss_mb(stack.gateway_pids()),
            }
        )
        await asyncio.sleep(1)


async def drive(
    target: tuple[str, int, bytes], rate: float, duration: float, connections: int
) -> list[tuple]:
    """Send at ``rate`` for ``duration``; returns (due s, answered s, latency ms, status) per
    request, times from the start of the run."""
    host, port, raw = target
    total = int(rate * duration)
    results: list[tuple[float, float, int]] = []
    next_index = 0
    start = time.perf_counter() + 0.2

    async def worker() -> None:
        nonlocal next_index
        conn = await Connection.open(host, port)
        try:
            while next_index < total:
                i, next_index = next_index, next_index + 1
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    status, _ = await conn.request(raw)
                except (OSError, asyncio.IncompleteReadError):
                    status = 0
                    conn.close()
                    conn = await Connection.open(host, port)
                done = time.perf_counter()
                results.append((due - start, done - start, (done - due) * 1000, status))
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return results


def windows(results: list[tuple], samples: list[dict]) -> list[dict]:
    """Per 10 s of the run, by when requests were answered: RPS achieved, latency, errors."""
    rows = []
    end = max((done for _, done, _, _ in results), default=0.0)
    for w in range(int(end // WINDOW_S) + 1):
        lo, hi = w * WINDOW_S, (w + 1) * WINDOW_S
        lat = [ms for _, done, ms, status in results if lo <= done < hi and status == 200]
        errors = sum(1 for _, done, _, status in results if lo <= done < hi and status != 200)
        in_window = [s for s in samples if lo <= s["t"] < hi] or samples[-1:]
        rows.append(
            {
                "window_s": f"{lo}-{hi}",
                "rps": round(len(lat) / WINDOW_S),
                "p50_ms": round(percentile(lat, 50), 2),
                "p99_ms": round(percentile(lat, 99), 2),
                "errors": errors,
                "max_loader_lag_s": max((s["loader_lag_s"] for s in in_window), default=0.0),
                "postgres_rss_mb": in_window[-1]["postgres_rss_mb"] if in_window else None,
                "redis_used_mb": in_window[-1]["redis_used_mb"] if in_window else None,
                "gateway_rss_mb": in_window[-1]["gateway_rss_mb"] if in_window else None,
            }
        )
    return rows


async def measure(duration: float, rate: float, connections: int, workers: int) -> dict:
    async with running_stack(workers=workers) as stack:
        target = build_request(
            stack.gateway_url, "/v1/chat/completions", BODY, {"authorization": f"Bearer {stack.key}"}
        )
        redis = aioredis.Redis.from_url(embedded_redis(stack.settings).endpoint().url)  # with its password
        samples: list[dict] = []
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler(stack, redis, stack.settings.event_stream, samples, stop))
        results = await drive(target, rate, duration, connections)
        answered = sum(1 for *_, status in results if status)  # every HTTP answer is recorded
        ok = [ms for _, _, ms, status in results if status == 200]
        elapsed = max((done for _, done, _, _ in results), default=duration)
        conn = await asyncpg.connect(stack.database_url)
        drained_at = time.monotonic()
        try:
            while (in_vault := await conn.fetchval(REQUESTS_IN_VAULT)) < answered:
                if time.monotonic() - drained_at > 120:
                    break
                await asyncio.sleep(0.1)
            drain_s = time.monotonic() - drained_at
        finally:
            await conn.close()
        stop.set()
        await sampling
        await redis.aclose()
    return {
        "benchmark": "sustained_load",
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "python": platform.python_version(),
        "server": f"uvicorn, uvloop, httptools, {workers} worker(s); one `onevault loader` process",
        "rate_rps": rate,
        "duration_s": duration,
        "connections": connections,
        "windows": windows(results, samples),
        "overall": {
            "sent": len(results),
            "ok": len(ok),
            "errors": len(results) - len(ok),
            "achieved_rps": round(len(ok) / elapsed, 1),
            "kept_up": elapsed < duration * 1.05,  # False: the rate is above what this machine serves
            "p50_ms": round(percentile(ok, 50), 2),
            "p99_ms": round(percentile(ok, 99), 2),
            "max_loader_lag_s": max((s["loader_lag_s"] for s in samples), default=0.0),
        },
        "vault": {
            "answered": answered,
            "request_rows": in_vault,
            "equal": in_vault == answered,
            "seconds_to_drain_after_load": round(drain_s, 2),
        },
        "samples": samples,
        "targets": {"loader_lag_s_at_1000_rps": 2.0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 10 min)")
    parser.add_argument("--rate", type=float, default=800, help="requests per second, fixed")
    parser.add_argument("--connections", type=int, default=64, help="client connections (max in flight)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gateway worker processes")
    args = parser.parse_args()
    result = asyncio.run(measure(args.duration, args.rate, args.connections, args.workers))
    print_table(result["windows"])
    print(f"overall: {result['overall']}")
    print(f"vault: {result['vault']}")
    print(f"wrote {write_json('sustained_load', result)}")
    if not result["vault"]["equal"]:
        raise SystemExit("answered requests and request rows in the vault differ")


if __name__ == "__main__":
    main()
