"""Benchmark: what the gateway adds on top of the provider.

The same zero-latency simulator is called directly and through the gateway (OpenAI-compatible
``/v1/chat/completions``, vault persistence on: every gateway request is emitted to Redis and
loaded into PostgreSQL). Sequentially and at each concurrency level it reports latency
percentiles for both, the *added* latency (gateway percentile minus direct percentile), RPS,
gateway CPU per request and RSS; then the same for streaming (``stream: true``, 64 one-token
SSE chunks): the time to first token added; then, sequentially and interleaved, each door
against the same direct call — chat plain, chat with an agent's body (5 function tools, a 3-turn
history with tool calls and results), the Responses and the Messages door; at the end it checks
every answered request is in the vault.

Targets on a 2-core machine: median added latency <= 2 ms sequential, p99 added <= 10 ms at
concurrency 50; the tool-calling body's sequential added p50 within 0.1 ms of the plain body's;
/v1/responses and /v1/messages within 0.2 ms of /v1/chat/completions. Writes
benchmarks/results/gateway_overhead.json.

    python benchmarks/gateway_overhead.py [--levels 1,10,50,200] [--requests 5000] [--workers N]
        [--stream-levels 1,10,50] [--stream-requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from typing import Any

import asyncpg
from harness import (
    build_request,
    cpu_seconds,
    percentile,
    print_table,
    rss_mb,
    run_load,
    run_stream_load,
    running_stack,
    summary,
    write_json,
)

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello to the vault."}]}
VAULT_REQUESTS = "select count(*) - 1 from raw_vault.hub_api_request"


def _tool(name: str, properties: dict) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name.replace('_', ' ')} for the agent.",
            "parameters": {"type": "object", "properties": properties, "required": sorted(properties)},
        },
    }


def _call(call_id: str, name: str, args: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


# What an agent sends: five tools and a three-turn history with tool calls and their results.
TOOL_BODY = {
    "model": "gpt-4o-mini",
    "tools": [
        _tool("get_weather", {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}),
        _tool("get_time", {"city": {"type": "string"}}),
        _tool("search_docs", {"query": {"type": "string"}, "limit": {"type": "integer"}}),
        _tool("create_ticket", {"title": {"type": "string"}, "body": {"type": "string"}}),
        _tool("lookup_invoice", {"invoice_id": {"type": "string"}}),
    ],
    "messages": [
        {"role": "system", "content": "You are the vault's support agent."},
        {"role": "user", "content": "What is the weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [_call("call_1", "get_weather", '{"city":"Paris"}')],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 18, "sky": "clear"}'},
        {"role": "assistant", "content": "It is 18 degrees and clear in Paris."},
        {"role": "user", "content": "Find the docs on invoices and open a ticket."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                _call("call_2", "search_docs", '{"query":"invoices","limit":3}'),
                _call("call_3", "create_ticket", '{"title":"Invoices","body":"See docs"}'),
            ],
        },
        {"role": "tool", "tool_call_id": "call_2", "content": '["invoices.md", "billing.md"]'},
        {"role": "tool", "tool_call_id": "call_3", "content": '{"ticket": "T-42"}'},
    ],
}


# The same question through each door (all served by gpt-4o-mini, i.e. OpenAI's chat wire upstream).
# Each with the direct call its upstream request amounts to (the simulator's own cost of checking
# five tool schemas is not the gateway's).
DOOR_BODIES = {
    "chat, plain": ("/v1/chat/completions", BODY, BODY),
    "chat, 5 tools + 3-turn history": ("/v1/chat/completions", TOOL_BODY, TOOL_BODY),
    "responses, plain": ("/v1/responses", {"model": "gpt-4o-mini", "input": "Say hello to the vault."}, BODY),
    "messages, plain": (
        "/v1/messages",
        {"model": "gpt-4o-mini", "max_tokens": 256, "messages": BODY["messages"]},
        BODY,
    ),
}


async def compare_doors(stack: Any, n: int) -> list[dict]:
    """Sequential added p50 of each door against the direct call its upstream request amounts to,
    interleaved in one phase so that drift in the machine's load does not favour one door."""
    sim_auth = {"authorization": "Bearer sim-openai"}
    gw_auth = {"authorization": f"Bearer {stack.key}"}
    targets = {
        name: (
            build_request(stack.gateway_url, path, body, gw_auth),
            build_request(stack.simulator_url, "/v1/chat/completions", direct, sim_auth),
        )
        for name, (path, body, direct) in DOOR_BODIES.items()
    }
    gateway_ms: dict[str, list[float]] = {name: [] for name in targets}
    direct_ms: dict[str, list[float]] = {name: [] for name in targets}
    errors = dict.fromkeys(targets, 0)
    for via, _ in targets.values():
        await run_load(via, 100, 1)  # warm each route
    rounds = 10
    for _ in range(rounds):
        for name, (via, direct) in targets.items():
            direct_ms[name] += (await run_load(direct, n // rounds, 1)).latencies_ms
            result = await run_load(via, n // rounds, 1)
            gateway_ms[name] += result.latencies_ms
            errors[name] += result.errors
    chat = percentile(gateway_ms["chat, plain"], 50) - percentile(direct_ms["chat, plain"], 50)
    rows = []
    for name, latencies in gateway_ms.items():
        added = percentile(latencies, 50) - percentile(direct_ms[name], 50)
        rows.append(
            {
                "door": name,
                "requests": len(latencies),
                "added_p50_ms": round(added, 3),
                "difference_ms": round(added - chat, 3),
                "gateway_errors": errors[name],
                "answered": len(latencies) + 100,
                "direct": summary(direct_ms[name]),
                "gateway": summary(latencies),
            }
        )
    return rows


async def wait_for_vault(database_url: str, expected: int, timeout: float = 120.0) -> tuple[int, float]:
    conn = await asyncpg.connect(database_url)
    started = time.perf_counter()
    try:
        while True:
            n = await conn.fetchval(VAULT_REQUESTS)
            if n >= expected or time.perf_counter() - started > timeout:
                return n, time.perf_counter() - started
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def measure(
    levels: list[int],
    sequential: int,
    concurrent: int,
    workers: int,
    stream_levels: list[int],
    stream_requests: int,
) -> dict:
    async with running_stack(workers=workers) as stack:
        direct = build_request(
            stack.simulator_url, "/v1/chat/completions", BODY, {"authorization": "Bearer sim-openai"}
        )
        via = build_request(
            stack.gateway_url, "/v1/chat/completions", BODY, {"authorization": f"Bearer {stack.key}"}
        )
        answered = 0
        for target in (direct, via):  # warm connections, caches, JIT-free but import-lazy paths
            result = await run_load(target, 500, 10)
            answered += len(result.latencies_ms) if target is via else 0
        rows = []
        for level in levels:
            n = sequential if level == 1 else concurrent
            d = await run_load(direct, n, level)
            cpu0 = cpu_seconds(stack.gateway_pids())
            g = await run_load(via, n, level)
            cpu = cpu_seconds(stack.gateway_pids()) - cpu0
            answered += len(g.latencies_ms)
            added = {
                f"added_p{q}_ms": round(percentile(g.latencies_ms, q) - percentile(d.latencies_ms, q), 3)
                for q in (50, 95, 99)
            }
            rows.append(
                {
                    "concurrency": level,
                    "requests": n,
                    **added,
                    "direct": summary(d.latencies_ms),
                    "gateway": summary(g.latencies_ms),
                    "direct_rps": round(d.rps),
                    "gateway_rps": round(g.rps),
                    "gateway_errors": g.errors,
                    "gateway_cpu_ms_per_request": round(cpu * 1000 / max(1, len(g.latencies_ms)), 3),
                    "gateway_rss_mb": rss_mb(stack.gateway_pids()),
                }
            )
        stream_rows = []
        stream_body = {**BODY, "stream": True}
        direct_s = build_request(
            stack.simulator_url, "/v1/chat/completions", stream_body, {"authorization": "Bearer sim-openai"}
        )
        via_s = build_request(
            stack.gateway_url, "/v1/chat/completions", stream_body, {"authorization": f"Bearer {stack.key}"}
        )
        for level in stream_levels:
            n = stream_requests if level > 1 else max(1, stream_requests // 2)
            d = await run_stream_load(direct_s, n, level)
            cpu0 = cpu_seconds(stack.gateway_pids())
            g = await run_stream_load(via_s, n, level)
            cpu = cpu_seconds(stack.gateway_pids()) - cpu0
            answered += len(g.total_ms)
            stream_rows.append(
                {
                    "concurrency": level,
                    "requests": n,
                    **{
                        f"added_ttft_p{q}_ms": round(percentile(g.ttft_ms, q) - percentile(d.ttft_ms, q), 3)
                        for q in (50, 99)
                    },
                    "direct_ttft": summary(d.ttft_ms),
                    "gateway_ttft": summary(g.ttft_ms),
                    "added_total_p50_ms": round(percentile(g.total_ms, 50) - percentile(d.total_ms, 50), 3),
                    "gateway_rps": round(g.rps),
                    "gateway_errors": g.errors,
                    "gateway_cpu_ms_per_request": round(cpu * 1000 / max(1, len(g.total_ms)), 3),
                    "gateway_rss_mb": rss_mb(stack.gateway_pids()),
                }
            )
        doors = await compare_doors(stack, sequential) if sequential else []
        answered += sum(row["answered"] for row in doors)
        in_vault, drain_s = await wait_for_vault(stack.database_url, answered)
    return {
        "benchmark": "gateway_overhead",
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "python": platform.python_version(),
        "server": f"uvicorn, uvloop, httptools, {workers} worker(s); one `onevault loader` process",
        "simulator_latency_ms": 0,
        "levels": rows,
        "streaming": stream_rows,
        "doors_sequential": doors,
        "vault": {
            "answered": answered,
            "in_vault": in_vault,
            "seconds_to_drain_after_load": round(drain_s, 2),
        },
        "targets": {
            "median_added_sequential_ms": 2.0,
            "p99_added_c50_ms": 10.0,
            "tool_calling_added_p50_within_ms_of_plain": 0.1,
            "responses_and_messages_added_p50_within_ms_of_chat": 0.2,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="1,10,50,200", help="concurrency levels; 1 = sequential")
    parser.add_argument("--sequential", type=int, default=2000, help="requests in the sequential run")
    parser.add_argument("--requests", type=int, default=5000, help="requests per concurrent run")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gateway worker processes")
    parser.add_argument("--stream-levels", default="1,10,50", help="streaming concurrency levels ('' = none)")
    parser.add_argument("--stream-requests", type=int, default=1000, help="requests per streaming run")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    stream_levels = [int(x) for x in args.stream_levels.split(",") if x]
    result = asyncio.run(
        measure(levels, args.sequential, args.requests, args.workers, stream_levels, args.stream_requests)
    )
    print_table(
        [
            {k: v for k, v in row.items() if k not in ("direct", "gateway")}
            | {"gw_p50": row["gateway"]["p50"], "gw_p99": row["gateway"]["p99"]}
            for row in result["levels"]
        ]
    )
    print("streaming (time to first token):")
    print_table(
        [
            {k: v for k, v in row.items() if k not in ("direct_ttft", "gateway_ttft")}
            | {"gw_ttft_p50": row["gateway_ttft"]["p50"], "gw_ttft_p99": row["gateway_ttft"]["p99"]}
            for row in result["streaming"]
        ]
    )
    if result["doors_sequential"]:
        print("sequential, added p50 against the same direct call (difference: against chat, plain):")
        print_table(
            [
                {k: v for k, v in row.items() if k not in ("direct", "gateway")}
                for row in result["doors_sequential"]
            ]
        )
    print(f"vault: {result['vault']}")
    print(f"wrote {write_json('gateway_overhead', result)}")


if __name__ == "__main__":
    main()
