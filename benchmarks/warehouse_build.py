"""Benchmark: the dbt warehouse on a million requests.

Generates N requests (default 1,000,000; realistic synthetic traffic: 20 customers, tags, end
users, failures and failovers, over one month) into the raw vault through the real loader, then
times ``dbt build`` cold (every model, seed, source/data/unit test), then twice loads M more
requests (default 10,000) and times the incremental ``dbt run`` after each — the first right
after a checkpoint with cold buffers (the worst case), the second the steady state between
checkpoints (the incremental figure) — and, for reference, the incremental ``dbt build`` (its
tests re-scan the whole marts). Also records the PostgreSQL server's CPU
seconds per phase (user + system of every server process), since the machine is shared.

Targets (issue 6) on a 2-core machine: cold build ≤ 120 s, incremental ≤ 10 s. The lookback
(re-read rows loaded up to ``lookback_minutes`` before the newest row already built, for loader
transactions that commit late) is measured from the newest *loaded* row, and here the million
was loaded at full speed just before the build — the default 2 minutes would re-read a few
hundred thousand of them, a backlog a scheduled refresh never has. So the runs pass
``lookback_minutes: 0.1`` (6 s, still longer than a loader transaction; the re-read rows that
are unchanged go no further than the two models reading the raw vault). Prints a table, writes
benchmarks/results/warehouse_build.json.

With ``--home DIR`` the generated vault is kept in DIR (database ``loaded_<N>``, made once) and
each run works on a copy of it; the cold-built warehouse is kept too (``built_<N>_<digest of
dbt_project/>``), so a re-run with unchanged models skips the load and the cold build (they are
then reported as null / "reused") and measures only the 10,000 more and the incremental runs.

    python benchmarks/warehouse_build.py [--requests 1000000] [--more 10000] [--batch 5000] [--home DIR]
                                         [--rebuild]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import psutil

from warehouse.db import connect, create_pool
from warehouse.dbt import dbt_args, dbt_env
from warehouse.embedded import EmbeddedPostgres
from warehouse.events import RequestEvent
from warehouse.loader import VaultLoader, load_pipelined
from warehouse.mapping import batch_from_events
from warehouse.migrations import migrate
from warehouse.synthetic import synthetic_events

RESULTS = Path(__file__).parent / "results"
DBT = str(Path(sys.executable).with_name("dbt"))
MONTH = datetime(2026, 10, 1, tzinfo=UTC)
# The incremental runs' lookback (see above); the cold build gets the same vars, or dbt's
# partial parsing would be invalidated and the incremental run would re-parse the project.
LOOKBACK = "{lookback_minutes: 0.1}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def note(text: str) -> None:
    """Progress on stderr as each phase ends (the table comes at the end)."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


def chunks(events: Iterator[RequestEvent], size: int) -> Iterator[list[RequestEvent]]:
    while chunk := list(itertools.islice(events, size)):
        yield chunk


def server_cpu_seconds(server: EmbeddedPostgres | None) -> float | None:
    """User + system CPU of the postmaster and its backends (None for an external server)."""
    if server is None:
        return None
    info = server._postmaster()  # the pid file is the only handle on a detached server
    if info is None or info.pid is None:
        return None
    total = 0.0
    try:
        root = psutil.Process(info.pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                t = proc.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
    except psutil.Error:
        return None
    return total


def slowest(work: Path, count: int = 8) -> dict[str, float]:
    """The last dbt invocation's slowest nodes (run_results.json), to see where the time goes."""
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    timed = sorted(results, key=lambda r: r["execution_time"], reverse=True)[:count]
    return {r["unique_id"].split(".")[-1]: round(r["execution_time"], 2) for r in timed}


def node_seconds(work: Path) -> dict[str, float]:
    """The last dbt invocation's node time summed per kind (model, test, unit_test, seed)."""
    totals: dict[str, float] = {}
    for r in json.loads((work / "target" / "run_results.json").read_text())["results"]:
        kind = r["unique_id"].split(".", 1)[0]
        totals[kind] = round(totals.get(kind, 0.0) + r["execution_time"], 1)
    return totals


def dbt(dsn: str, work: Path, *command: str) -> tuple[float, str]:
    env = {**os.environ, **dbt_env(dsn), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    t0 = time.perf_counter()
    done = subprocess.run([DBT, *dbt_args(list(command), work)], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"dbt {' '.join(command)} failed:\n{done.stdout[-4000:]}")
    summary = next((line.split("Done. ", 1)[1] for line in done.stdout.splitlines() if "Done. " in line), "")
    return seconds, summary.strip()


async def load(dsn: str, events: Iterator[RequestEvent], batch: int) -> tuple[float, int]:
    pool = await create_pool(dsn, max_size=2)
    try:
        t0 = time.perf_counter()
        rows = await load_pipelined(VaultLoader(pool), chunks(events, batch), batch_from_events)
        return time.perf_counter() - t0, rows
    finally:
        await pool.close()


def phase(server: EmbeddedPostgres | None, before: float | None) -> float | None:
    after = server_cpu_seconds(server)
    return None if before is None or after is None else round(after - before, 1)


def project_digest() -> str:
    """Hash of everything dbt builds from: a built snapshot is reusable only for the same models."""
    root = Path(__file__).resolve().parents[1] / "dbt_project"
    digest = hashlib.sha256()
    for sub in ("models", "macros", "seeds", "tests", "dbt_project.yml"):
        for path in sorted((root / sub).rglob("*") if (root / sub).is_dir() else [root / sub]):
            if path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


async def databases(admin: asyncpg.Connection) -> set[str]:
    return {r["datname"] for r in await admin.fetch("select datname from pg_database")}


async def copy_database(admin: asyncpg.Connection, source: str, target: str) -> None:
    """A file-level copy (CREATE DATABASE … TEMPLATE): seconds, where reloading takes minutes."""
    await admin.execute(f'drop database if exists "{target}" with (force)')
    await admin.execute(f'create database "{target}" template "{source}" strategy file_copy')


async def run(
    requests: int, more: int, batch: int, home: Path | None, rebuild: bool = False
) -> dict[str, object]:
    server = None
    dsn = os.environ.get("ONEVAULT_DATABASE_URL")
    if dsn and home is not None:
        raise SystemExit("--home uses its own embedded server: unset ONEVAULT_DATABASE_URL")
    month = timedelta(days=30)
    cold_s: float | None = None
    cold_cpu: float | None = None
    cold_summary = "reused"
    cold_slowest: dict[str, float] | None = None
    cold_kinds: dict[str, float] | None = None
    load_s: float | None = None
    rows: int | None = None
    work = Path(tempfile.mkdtemp(prefix="ov-bench-dbt-target-"))
    try:
        if not dsn:
            home_dir = home or Path(tempfile.mkdtemp(prefix="ov-bench-dbt-"))
            server = EmbeddedPostgres(home_dir, port=free_port())
            endpoint = server.ensure_running()
            admin = await asyncpg.connect(endpoint.dsn("postgres"))
            loaded, built = f"loaded_{requests}", f"built_{requests}_{project_digest()}"
            have = await databases(admin)
            if loaded not in have:  # generate once per --home; a half-done load is redone
                await admin.execute(f'drop database if exists "loading_{requests}" with (force)')
                await admin.execute(f'create database "loading_{requests}"')
                conn = await connect(endpoint.dsn(f"loading_{requests}"))
                await migrate(conn)
                await conn.close()
                load_s, rows = await load(
                    endpoint.dsn(f"loading_{requests}"),
                    synthetic_events(requests, seed=1, start=MONTH, span=month, realistic=True),
                    batch,
                )
                await admin.execute(f'alter database "loading_{requests}" rename to "{loaded}"')
            reuse = home is not None and built in have and not rebuild
            await copy_database(admin, built if reuse else loaded, "bench")
            await admin.close()
            dsn = endpoint.dsn("bench")
            conn = await connect(dsn)
            await migrate(conn)  # a vault kept from an older version gets the newer migrations
            await conn.close()
        else:
            reuse = False
            conn = await connect(dsn)
            await migrate(conn)
            await conn.close()
            load_s, rows = await load(
                dsn, synthetic_events(requests, seed=1, start=MONTH, span=month, realistic=True), batch
            )

        if not reuse:
            cpu = server_cpu_seconds(server)
            cold_s, cold_summary = dbt(dsn, work, "build", "--vars", LOOKBACK)
            cold_cpu = phase(server, cpu)
            cold_slowest, cold_kinds = slowest(work, 15), node_seconds(work)
            note(f"cold build {cold_s:.1f} s (PostgreSQL CPU {cold_cpu} s): {cold_summary}; {cold_slowest}")
            if home is not None and server is not None:
                # snapshot the cold-built warehouse for the next try with the same models
                admin = await asyncpg.connect(server.endpoint().dsn("postgres"))
                for name in await databases(admin):
                    if name.startswith(f"built_{requests}_"):
                        await admin.execute(f'drop database "{name}" with (force)')
                await copy_database(admin, "bench", built)
                await admin.close()

        if reuse:  # the cold build parsed the project; without it, parse now (untimed) as it would have
            dbt(dsn, work, "parse", "--vars", LOOKBACK)

        # Two refreshes of 10,000 more requests each (the next day's traffic, as a scheduled
        # refresh sees it). The first comes right after a checkpoint (the database copy, or the
        # cold build's writes) with the server's buffers cold: every index page it touches is
        # read in and written to the WAL whole once (full-page writes). The second is the steady
        # state a refresh every few minutes sees between checkpoints (15 min apart). Both are
        # reported; the second is the incremental figure.
        refreshes = []
        for n in (1, 2):
            later = MONTH + month + timedelta(hours=6 * (n - 1))
            more_s, _ = await load(
                dsn,
                synthetic_events(
                    more, seed=1 + n, start=later, span=timedelta(hours=6), realistic=True, prefix=f"more{n}"
                ),
                batch,
            )
            cpu = server_cpu_seconds(server)
            incr_s, incr_summary = dbt(dsn, work, "run", "--vars", LOOKBACK)
            refreshes.append((more_s, incr_s, phase(server, cpu), incr_summary, slowest(work)))
            note(
                f"refresh {n}: dbt run {incr_s:.1f} s (PostgreSQL CPU {refreshes[-1][2]} s); {slowest(work)}"
            )
        (_, first_s, first_cpu, _, first_slowest) = refreshes[0]
        (more_s, incr_s, incr_cpu, incr_summary, incr_slowest) = refreshes[1]
        cpu = server_cpu_seconds(server)
        incr_build_s, incr_build_summary = dbt(dsn, work, "build", "--vars", LOOKBACK)
        incr_build_cpu = phase(server, cpu)

        conn = await connect(dsn)
        marts = {
            name: await conn.fetchval(f"select count(*) from marts.{name}")
            for name in ("spend_daily", "provider_performance_5m", "invoice_lines", "invoices", "chargeback")
        }
        in_marts = await conn.fetchval("select sum(requests) from marts.spend_daily")
        await conn.close()
        assert in_marts == requests + 2 * more, f"spend_daily counts {in_marts} requests"
        return {
            "requests": requests,
            "more_requests": more,
            "load_seconds": None if load_s is None else round(load_s, 1),
            "rows_loaded": rows,
            "cold_build_seconds": None if cold_s is None else round(cold_s, 1),
            "cold_build_postgres_cpu_seconds": cold_cpu,
            "cold_build": cold_summary,
            "cold_build_slowest_nodes_seconds": cold_slowest,
            "cold_build_node_seconds_by_kind": cold_kinds,
            "load_more_seconds": round(more_s, 1),
            "first_incremental_run_after_checkpoint_seconds": round(first_s, 1),
            "first_incremental_run_postgres_cpu_seconds": first_cpu,
            "first_incremental_run_slowest_models_seconds": first_slowest,
            "incremental_run_seconds": round(incr_s, 1),
            "incremental_run_postgres_cpu_seconds": incr_cpu,
            "incremental_run": incr_summary,
            "incremental_run_slowest_models_seconds": incr_slowest,
            "incremental_build_seconds": round(incr_build_s, 1),
            "incremental_build_postgres_cpu_seconds": incr_build_cpu,
            "incremental_build": incr_build_summary,
            "mart_rows": marts,
            "target_cold_seconds": 120,
            "target_incremental_seconds": 10,
            "machine": f"{platform.machine()} {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
            "python": platform.python_version(),
        }
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--more", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument(
        "--home",
        type=Path,
        help="keep the embedded server here: the generated vault (and the cold-built warehouse, "
        "per version of dbt_project/) is reused by the next run with the same --home",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="measure the cold build even when --home has it built"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.requests, args.more, args.batch, args.home, args.rebuild))
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    RESULTS.mkdir(exist_ok=True)
    name = "warehouse_build.json" if args.requests == 1_000_000 else f"warehouse_build_{args.requests}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
