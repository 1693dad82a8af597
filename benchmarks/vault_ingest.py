"""Benchmark: load 100,000 request events (all their hub/link/satellite rows) into the raw vault.

Target: under 10 s on a 2-core machine. Runs against a throw-away embedded PostgreSQL
unless ONEVAULT_DATABASE_URL is set; each repeat loads into a fresh, empty vault. Prints a table
and writes benchmarks/results/vault_ingest.json.

Wall time on a shared 2-core machine depends on whatever else runs, so beside it the benchmark
reports the CPU each side spent: this Python process (mapping and COPY encoding) and the
PostgreSQL server (all its processes; embedded server only), and the 1-minute load average
before each run.

    python benchmarks/vault_ingest.py [--events 100000] [--batch 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import psutil

from warehouse.db import connect, create_pool
from warehouse.embedded import EmbeddedPostgres
from warehouse.loader import VaultLoader, load_pipelined
from warehouse.mapping import batch_from_events
from warehouse.migrations import migrate
from warehouse.synthetic import synthetic_events

RESULTS = Path(__file__).parent / "results"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread: the mapping thread too
    return usage.ru_utime + usage.ru_stime


def _server_cpu(postmaster: psutil.Process | None) -> float | None:
    if postmaster is None:
        return None
    total = 0.0
    for proc in (postmaster, *postmaster.children(recursive=True)):
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def _one_run(dsn: str, events: list, batch_size: int, postmaster: psutil.Process | None) -> dict:
    conn = await connect(dsn)
    await migrate(conn)
    pool = await create_pool(dsn, max_size=2)
    loader = VaultLoader(pool)
    load_before = os.getloadavg()[0]
    py0, pg0, t0 = _own_cpu(), _server_cpu(postmaster), time.perf_counter()
    batches = (events[i : i + batch_size] for i in range(0, len(events), batch_size))
    rows = await load_pipelined(loader, batches, batch_from_events)
    seconds = time.perf_counter() - t0
    py1, pg1 = _own_cpu(), _server_cpu(postmaster)
    counted = await conn.fetchval("select count(*) from raw_vault.hub_api_request") - 1
    assert counted == len(events), f"expected {len(events)} requests in the vault, found {counted}"
    again = await loader.load(batch_from_events(events[:batch_size]))
    assert again.rows_inserted == 0, "reloading a batch must change nothing"
    await pool.close()
    await conn.close()
    return {
        "seconds": seconds,
        "rows": rows,
        "python_cpu_s": py1 - py0,
        "postgres_cpu_s": None if pg0 is None or pg1 is None else pg1 - pg0,
        "loadavg_1m_before": load_before,
    }


async def run(events: int, batch_size: int, repeat: int) -> dict[str, object]:
    server = None
    postmaster = None
    base_dsn = os.environ.get("ONEVAULT_DATABASE_URL")
    if not base_dsn:
        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="ov-bench-")), port=_free_port())
        endpoint = server.ensure_running()
        pid = int((server.pgdata / "postmaster.pid").read_text().split()[0])
        postmaster = psutil.Process(pid)
    try:
        all_events = list(synthetic_events(events))
        runs = []
        for i in range(repeat):
            if server is not None:
                admin = await asyncpg.connect(endpoint.dsn("postgres"))
                await admin.execute(f"create database bench_{i}")
                await admin.close()
                dsn = endpoint.dsn(f"bench_{i}")
            else:
                assert base_dsn is not None
                dsn = base_dsn
            runs.append(await _one_run(dsn, all_events, batch_size, postmaster))
        best = min(runs, key=lambda r: r["seconds"])
        median = statistics.median(r["seconds"] for r in runs)
        rows = best["rows"]
        result: dict[str, object] = {
            "events": events,
            "batch_size": batch_size,
            "rows_inserted": rows,
            "runs_seconds": [round(r["seconds"], 2) for r in runs],
            "seconds": round(best["seconds"], 3),
            "median_seconds": round(median, 3),
            "events_per_s": round(events / best["seconds"]),
            "rows_per_s": round(rows / best["seconds"]),
            "python_cpu_s": [round(r["python_cpu_s"], 2) for r in runs],
            "postgres_cpu_s": [_round(r["postgres_cpu_s"]) for r in runs],
            "loadavg_1m_before": [round(r["loadavg_1m_before"], 2) for r in runs],
            "target_seconds": 10,
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "python": platform.python_version(),
        }
        return result
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs, each into a fresh vault")
    args = parser.parse_args()
    result = asyncio.run(run(args.events, args.batch, args.repeat))
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vault_ingest.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
