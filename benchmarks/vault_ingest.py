"""Benchmark: load 100,000 request events (all their hub/link/satellite rows) into the raw vault.

Target (issue 2): under 10 s on a 2-core machine. Runs against a throw-away embedded PostgreSQL
unless ONEVAULT_DATABASE_URL is set. Prints a table and writes benchmarks/results/vault_ingest.json.

    python benchmarks/vault_ingest.py [--events 100000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import asyncpg

from warehouse.db import connect, create_pool
from warehouse.embedded import EmbeddedPostgres
from warehouse.loader import VaultLoader, load_pipelined
from warehouse.mapping import batch_from_events
from warehouse.migrations import migrate
from warehouse.synthetic import synthetic_events

RESULTS = Path(__file__).parent / "results"


async def run(events: int, batch_size: int) -> dict[str, float]:
    server = None
    dsn = os.environ.get("ONEVAULT_DATABASE_URL")
    if not dsn:
        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="ov-bench-")), port=55999)
        endpoint = server.ensure_running()
        admin = await asyncpg.connect(endpoint.dsn("postgres"))
        await admin.execute("create database bench")
        await admin.close()
        dsn = endpoint.dsn("bench")
    try:
        conn = await connect(dsn)
        await migrate(conn)
        pool = await create_pool(dsn, max_size=2)
        loader = VaultLoader(pool)
        all_events = list(synthetic_events(events))
        t0 = time.perf_counter()
        batches = (all_events[i : i + batch_size] for i in range(0, events, batch_size))
        rows = await load_pipelined(loader, batches, batch_from_events)
        total = time.perf_counter() - t0
        counted = await conn.fetchval("select count(*) from raw_vault.hub_api_request") - 1
        assert counted == events, f"expected {events} requests in the vault, found {counted}"
        again = await loader.load(batch_from_events(all_events[:batch_size]))
        assert again.rows_inserted == 0, "reloading a batch must change nothing"
        await pool.close()
        await conn.close()
        return {
            "events": events,
            "batch_size": batch_size,
            "rows_inserted": rows,
            "seconds": round(total, 3),
            "events_per_s": round(events / total),
            "rows_per_s": round(rows / total),
            "pipelined": "mapping of batch n+1 overlaps the load of batch n",
            "target_seconds": 10,
            "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "python": platform.python_version(),
        }
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    result = asyncio.run(run(args.events, args.batch))
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vault_ingest.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
