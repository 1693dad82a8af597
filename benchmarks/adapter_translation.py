"""Micro-benchmark: what translating one request and one answer costs each provider adapter.

For every wire format, a plain-text request and an agent's request (5 tools, a 3-turn history
with tool calls and results) are built into the provider's body (``adapter.build``, then the
JSON encoding the HTTP call does), and the provider's answer to it — taken once from the built-in
simulator over HTTP, so it is shaped exactly as the adapter receives it — is parsed
(``adapter.parse``). Each is timed in-process over many repetitions; µs per call.

    python benchmarks/adapter_translation.py [--repeat 20000]

Writes benchmarks/results/adapter_translation.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import timeit
from typing import Any

import orjson
from harness import print_table, write_json

from gateway.providers.base import ProviderEndpoint, get_adapter
from gateway.providers.http import create_http_client
from gateway.providers.types import ChatMessage, ChatRequest, Tool, ToolCall
from gateway.simulator import SimulatorServer

STYLES = {
    "openai": "gpt-4o-mini",
    "azure_openai": "gpt-4o-mini",
    "openai_compatible": "llama-3.1-8b",
    "anthropic": "claude-3-5-sonnet-latest",
    "gemini": "gemini-1.5-flash",
    "cohere": "command-r-plus",
}


def _tool(name: str, *props: str) -> Tool:
    properties = {p: {"type": "string"} for p in props}
    return Tool(
        name, f"{name} for the agent", {"type": "object", "properties": properties, "required": list(props)}
    )


TOOLS = [
    _tool("get_weather", "city", "unit"),
    _tool("get_time", "city"),
    _tool("search_docs", "query"),
    _tool("create_ticket", "title", "body"),
    _tool("lookup_invoice", "invoice_id"),
]
HISTORY = [
    ChatMessage("system", "You are the vault's support agent."),
    ChatMessage("user", "What is the weather in Paris?"),
    ChatMessage("assistant", None, tool_calls=[ToolCall("call_1", "get_weather", '{"city":"Paris"}')]),
    ChatMessage("tool", '{"temp": 18}', tool_call_id="call_1"),
    ChatMessage("assistant", "It is 18 degrees in Paris."),
    ChatMessage("user", "Find the docs on invoices and open a ticket."),
    ChatMessage(
        "assistant",
        None,
        tool_calls=[
            ToolCall("call_2", "search_docs", '{"query":"invoices"}'),
            ToolCall("call_3", "create_ticket", '{"title":"Invoices","body":"See docs"}'),
        ],
    ),
    ChatMessage("tool", '["invoices.md"]', tool_call_id="call_2"),
    ChatMessage("tool", '{"ticket": "T-42"}', tool_call_id="call_3"),
]


def endpoint(style: str, base: str) -> ProviderEndpoint:
    url = f"{base}/v1" if style in ("openai", "openai_compatible") else base
    return ProviderEndpoint(
        style,
        url,
        "sim-key",
        api_version="2024-10-21" if style == "azure_openai" else None,
        deployments={"gpt-4o-mini": "gpt-4o-mini"} if style == "azure_openai" else {},
    )


async def answers(base: str) -> dict[tuple[str, str], tuple[ProviderEndpoint, ChatRequest, Any]]:
    """The simulator's answer body to each (style, body kind), fetched as the adapter would."""
    http = create_http_client(trust_env=False)
    out = {}
    try:
        for style, model in STYLES.items():
            ep = endpoint(style, base)
            adapter = get_adapter(style)
            for kind, request in (
                ("plain", ChatRequest(model, [ChatMessage("user", "Say hello to the vault.")])),
                ("tools", ChatRequest(model, list(HISTORY), tools=list(TOOLS))),
            ):
                call = adapter.build(ep, request, stream=False)  # type: ignore[attr-defined]
                response = await http.post(
                    call.url, headers=call.headers, body=orjson.dumps(call.body), timeout_s=10
                )
                assert response.is_success, (style, kind, response.status, response.content[:300])
                out[(style, kind)] = (ep, request, orjson.loads(response.content))
    finally:
        await http.aclose()
    return out


def measure(repeat: int) -> dict:
    sim = SimulatorServer().start()
    try:
        bodies = asyncio.run(answers(sim.url))
    finally:
        sim.stop()
    rows = []
    for (style, kind), (ep, request, data) in bodies.items():
        adapter = get_adapter(style)

        def build(ep: ProviderEndpoint = ep, request: ChatRequest = request, adapter: Any = adapter) -> bytes:
            return orjson.dumps(adapter.build(ep, request, stream=False).body)

        def parse(data: Any = data, request: ChatRequest = request, adapter: Any = adapter) -> object:
            return adapter.parse(data, request)

        build_us = min(timeit.repeat(build, number=repeat, repeat=3)) / repeat * 1e6
        parse_us = min(timeit.repeat(parse, number=repeat, repeat=3)) / repeat * 1e6
        rows.append(
            {
                "adapter": style,
                "body": kind,
                "build_us": round(build_us, 2),
                "parse_us": round(parse_us, 2),
                "total_us": round(build_us + parse_us, 2),
            }
        )
    return {
        "benchmark": "adapter_translation",
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "python": platform.python_version(),
        "repeat": repeat,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=20000, help="calls per timing")
    result = measure(parser.parse_args().repeat)
    print_table(result["rows"])
    print(f"wrote {write_json('adapter_translation', result)}")


if __name__ == "__main__":
    main()
