"""Benchmark: latency of cache hits through the gateway (exact and semantic), next to a miss.

The production-style stack of ``harness.running_stack`` (``onevault serve`` workers, a loader
process, the zero-latency simulator as every provider); the benchmark customer has the semantic
cache on (which includes the exact cache), retention ``encrypted`` and threshold 0.9. Requests
are sequential over one keep-alive connection to ``POST /v1/ai/completions``:

- ``exact hit``: the same request again and again (Redis lookup, no provider call);
- ``semantic hit``: each request a different spelling of one cached question (other letter
  case and punctuation: a new exact key every time, the same meaning), so each one misses the
  exact cache, embeds the question (a provider call, recorded and costed as its own request),
  finds the answer in pgvector and decrypts it;
- ``miss (provider)``: caching off for the request (``cache: {"mode": "off"}``), for scale.

Targets (this 2-core machine): p50 <= 3 ms exact, <= 15 ms semantic. Writes
benchmarks/results/cache_latency.json.

    python benchmarks/cache_latency.py [--requests 1000] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from decimal import Decimal

import orjson
from harness import Connection, build_request, print_table, running_stack, summary, write_json

from gateway.admin.customers import update_customer
from warehouse.db import create_pool

QUESTION = "What is the capital city of France and why did it become the capital"


def spelling(i: int) -> str:
    """The question with letter case flipped by the bits of ``i``: same words, new bytes."""
    out, bit = [], 0
    for ch in QUESTION:
        if ch.isalpha():
            out.append(ch.upper() if (i >> bit) & 1 else ch.lower())
            bit += 1
        else:
            out.append(ch)
    return "".join(out) + "?" * (1 + i % 3)


async def timed(conn: Connection, raws: list[bytes], expect: str | None) -> tuple[list[float], int]:
    latencies, wrong = [], 0
    for raw in raws:
        t0 = time.perf_counter()
        status, body = await conn.request(raw)
        elapsed = (time.perf_counter() - t0) * 1000
        reason = orjson.loads(body)["route"]["reason"] if status == 200 else ""
        if status != 200 or (expect is not None and not reason.startswith(expect)):
            wrong += 1
        else:
            latencies.append(elapsed)
    return latencies, wrong


async def measure(n: int, workers: int) -> dict:
    async with running_stack(workers=workers) as stack:
        pool = await create_pool(stack.database_url, min_size=1, max_size=2)
        try:
            await update_customer(
                pool,
                "bench",
                {"cache_mode": "semantic", "retention_mode": "encrypted", "cache_similarity": Decimal("0.9")},
                changed_by="bench",
            )
        finally:
            await pool.close()
        host, port, _ = build_request(stack.gateway_url, "/", {}, {})
        auth = {"authorization": f"Bearer {stack.key}"}

        def raw(prompt: str, **extra: object) -> bytes:
            body = {"prompt": prompt, "model": "gpt-4o-mini", **extra}
            return build_request(stack.gateway_url, "/v1/ai/completions", body, auth)[2]

        conn = await Connection.open(host, port)
        try:
            await conn.request(raw(QUESTION))  # the miss that fills both caches
            await asyncio.sleep(0.5)
            # Warm-up: every worker process builds its pools and caches on its first requests.
            await timed(conn, [raw(QUESTION)] * 50, None)
            await timed(conn, [raw(spelling(i)) for i in range(1, 51)], None)
            rows = []
            for name, raws, expect in (
                ("exact hit", [raw(QUESTION)] * n, "cache hit (exact)"),
                ("semantic hit", [raw(spelling(i)) for i in range(100, 100 + n)], "cache hit (semantic"),
                ("miss (provider)", [raw(QUESTION, cache={"mode": "off"})] * n, None),
            ):
                latencies, wrong = await timed(conn, raws, expect)
                rows.append(
                    {"path": name, "requests": len(raws), "not_as_expected": wrong, **summary(latencies)}
                )
        finally:
            conn.close()
    return {
        "benchmark": "cache_latency",
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "python": platform.python_version(),
        "server": f"uvicorn, uvloop, httptools, {workers} worker(s); one `onevault loader` process",
        "endpoint": "POST /v1/ai/completions, sequential, one keep-alive connection",
        "rows": rows,
        "targets_p50_ms": {"exact hit": 3.0, "semantic hit": 15.0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="requests per path")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gateway worker processes")
    args = parser.parse_args()
    result = asyncio.run(measure(args.requests, args.workers))
    print_table(result["rows"])
    print(f"targets (p50 ms): {result['targets_p50_ms']}")
    print(f"wrote {write_json('cache_latency', result)}")


if __name__ == "__main__":
    main()
