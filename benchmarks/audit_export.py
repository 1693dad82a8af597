"""Benchmark: export one customer's 1,000,000 requests as an audit export (JSONL + CSV of every
record kind, totals, records of processing, signed manifest, chain record).

Targets: ≤ 60 s and ≤ 300 MB peak RSS on a 2-core machine. The vault is filled with
``warehouse.synthetic`` events through the real loader (as benchmarks/vault_ingest.py does);
the export then runs in a fresh child process, so its peak RSS is the exporter's own (PostgreSQL,
a separate server, formats and streams the rows). Prints a table and writes
benchmarks/results/audit_export.json.

    python benchmarks/audit_export.py [--requests 1000000] [--home DIR (reuse a loaded vault)]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from warehouse.db import connect, create_pool
from warehouse.embedded import EmbeddedPostgres
from warehouse.loader import VaultLoader, load_pipelined
from warehouse.mapping import batch_from_events
from warehouse.migrations import migrate
from warehouse.synthetic import synthetic_events

RESULTS = Path(__file__).parent / "results"
CUSTOMER = "bench"
START = datetime(2026, 10, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def fill(dsn: str, requests: int, batch_size: int = 5000) -> float:
    conn = await connect(dsn)
    await migrate(conn)
    have = await conn.fetchval("select count(*) - 1 from raw_vault.hub_api_request")
    await conn.close()
    if have >= requests:
        return 0.0
    pool = await create_pool(dsn, max_size=2)
    events = synthetic_events(
        requests, customer_names=[CUSTOMER], start=START, span=timedelta(days=30), realistic=True
    )
    batches = iter(lambda: list(itertools.islice(events, batch_size)), [])
    t0 = time.perf_counter()
    await load_pipelined(VaultLoader(pool), batches, batch_from_events)
    await pool.execute("analyze")  # as autovacuum would have by the time anyone exports
    await pool.close()
    return time.perf_counter() - t0


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU of these (local) PostgreSQL backends, from /proc."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def export_only(dsn: str, out: Path) -> dict[str, object]:
    """Run in the child process: one export, timed, with this process's peak RSS."""
    from warehouse.audit import ExportScope, SigningKey, export_customer

    pool = await create_pool(dsn, min_size=3, max_size=3)
    held = [await pool.acquire() for _ in range(3)]  # note every backend the export will use
    backends = [await c.fetchval("select pg_backend_pid()") for c in held]
    for c in held:
        await pool.release(c)
    scope = ExportScope(CUSTOMER, date(2026, 10, 1), date(2026, 11, 1), datetime.now(UTC))
    db_cpu0, self_cpu0 = cpu_seconds(backends), time.process_time()
    t0 = time.perf_counter()
    result = await export_customer(pool, scope, out, SigningKey.generate(), created_by="benchmark")
    seconds = time.perf_counter() - t0
    db_cpu, self_cpu = cpu_seconds(backends) - db_cpu0, time.process_time() - self_cpu0
    await pool.close()
    return {
        "seconds": round(seconds, 2),
        "db_cpu_seconds": round(db_cpu, 1),
        "exporter_cpu_seconds": round(self_cpu, 1),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "requests": result.totals["requests"],
        "bytes_written": sum(f.bytes for f in result.files),
        "files": len(result.files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--home", type=Path, help="Keep the embedded PostgreSQL here (reused by later runs).")
    parser.add_argument("--export-only", metavar="DSN", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        print(json.dumps(asyncio.run(export_only(args.export_only, args.out))))
        return

    home = args.home or Path(tempfile.mkdtemp(prefix="ov-bench-audit-"))
    server = None
    dsn = os.environ.get("ONEVAULT_DATABASE_URL")
    if not dsn:
        server = EmbeddedPostgres(home, port=free_port())
        endpoint = server.ensure_running()
        dsn = endpoint.dsn("postgres")
    out = Path(tempfile.mkdtemp(prefix="ov-audit-out-")) / "export"
    try:
        load_s = asyncio.run(fill(dsn, args.requests))
        child = subprocess.run(
            [sys.executable, __file__, "--export-only", dsn, "--out", str(out)],
            check=True,
            capture_output=True,
            text=True,
        )
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        result = {
            "requests_in_vault": args.requests,
            "load_seconds": round(load_s, 1) if load_s else "reused",
            "export_seconds": measured["seconds"],
            "export_peak_rss_mb": measured["peak_rss_mb"],
            "export_db_cpu_seconds": measured["db_cpu_seconds"],
            "exporter_cpu_seconds": measured["exporter_cpu_seconds"],
            "machine_load_average_1m": measured["load_average_1m_after"],
            "requests_exported": measured["requests"],
            "mb_written": round(measured["bytes_written"] / 1e6, 1),
            "files": measured["files"],
            "target_seconds": 60,
            "target_rss_mb": 300,
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "python": platform.python_version(),
        }
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
        if server is not None:
            server.stop()
            if args.home is None:
                shutil.rmtree(home, ignore_errors=True)
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit_export.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
