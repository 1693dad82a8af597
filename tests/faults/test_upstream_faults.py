"""An upstream that hangs, answers garbage JSON or keeps answering 429: the gateway times out,
retries and fails over per the rules, bounded in time, and records every attempt.

Already proven elsewhere, not repeated here:
- a stream cut mid-way is still costed for what was delivered:
  tests/gateway/e2e/test_errors_and_failover.py::test_broken_stream_is_costed_for_what_was_delivered
- one 429 is retried after its retry-after: same file, ::test_429_is_retried_after_its_retry_after
- 5xx failover and the circuit breaker: same file, ::test_failover_to_the_next_provider and
  ::test_circuit_opens_skips_the_sick_provider_then_closes
- each adapter's classification of a stall, garbage and a cut stream:
  tests/gateway/providers/test_adapters_against_simulator.py
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from gateway.simulator import SimulatorServer
from tests.faults.conftest import StartGateway
from tests.faults.faultkit import clear_breakers, fault_settings, issue_key, wait_for_vault, write_catalog
from warehouse.embedded import RedisEndpoint

UPSTREAM_TIMEOUT_S = 0.5  # the catalog's per-call timeout; the simulator's hang lasts 3 s
BODY = {"prompt": "hello", "model": "gpt-4o-mini", "max_tokens": 16}


@pytest.fixture
async def client(
    vault_dsn: str,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,
    tmp_path: Path,
    start_gateway: StartGateway,
) -> AsyncIterator[httpx.AsyncClient]:
    key = await issue_key(vault_dsn)
    await clear_breakers(redis_server.url)
    timeouts = {"timeout_s": UPSTREAM_TIMEOUT_S}
    catalog = write_catalog(tmp_path, sim.url, openai=timeouts, azure_openai=timeouts)
    # A high breaker threshold: these tests are about retries and failover, not the breaker.
    settings = fault_settings(tmp_path, breaker_threshold=100)
    gateway = await start_gateway(vault_dsn, redis_server.url, settings=settings, catalog=catalog)
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"authorization": f"Bearer {key}"}, timeout=30
    ) as c:
        yield c


async def attempts_in_vault(dsn: str, request_id: str) -> list[tuple[int, str | None]]:
    await wait_for_vault(dsn, {request_id})
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select a.attempt_no, a.error_class from raw_vault.sat_api_request_attempt a "
            "join raw_vault.hub_api_request h using (api_request_hk) where h.api_request_bk = $1 "
            "order by a.attempt_no",
            request_id,
        )
    finally:
        await conn.close()
    return [(r["attempt_no"], r["error_class"]) for r in rows]


async def test_a_hung_provider_times_out_and_fails_over(
    client: httpx.AsyncClient, sim: SimulatorServer, vault_dsn: str
) -> None:
    sim.simulator.inject("timeout", match={"api_style": "openai"})
    started = time.monotonic()
    r = await client.post("/v1/ai/completions", json=BODY)
    elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["provider"] == "azure_openai" and out["route"]["reason"] == "failover"
    assert [(a["provider"], a["error_class"]) for a in out["attempts"]] == [
        ("openai", "timeout"),
        ("openai", "timeout"),
        ("azure_openai", None),
    ]
    assert elapsed < 2.5, "each hung try must end at the upstream timeout, not when the provider gives up"
    assert [c for _, c in await attempts_in_vault(vault_dsn, out["id"])] == ["timeout", "timeout", None]


async def test_every_provider_hung_is_a_504_within_the_timeouts(
    client: httpx.AsyncClient, sim: SimulatorServer
) -> None:
    sim.simulator.inject("timeout")
    started = time.monotonic()
    r = await client.post("/v1/ai/completions", json=BODY)
    assert r.status_code == 504, r.text
    assert r.json()["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 2 * 2 * UPSTREAM_TIMEOUT_S + 1.5  # 2 candidates x 2 tries


async def test_garbage_json_is_not_retried_on_the_same_provider_but_fails_over(
    client: httpx.AsyncClient, sim: SimulatorServer, vault_dsn: str
) -> None:
    sim.simulator.inject("garbage_json", match={"api_style": "openai"})
    r = await client.post("/v1/ai/completions", json=BODY)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["provider"] == "azure_openai"
    assert [(a["provider"], a["error_class"]) for a in out["attempts"]] == [
        ("openai", "bad_response"),
        ("azure_openai", None),
    ]
    assert [c for _, c in await attempts_in_vault(vault_dsn, out["id"])] == ["bad_response", None]


async def test_a_provider_that_keeps_answering_429_is_retried_then_failed_over(
    client: httpx.AsyncClient, sim: SimulatorServer
) -> None:
    sim.simulator.inject("http_429", retry_after=0.3, match={"api_style": "openai"})
    started = time.monotonic()
    r = await client.post("/v1/ai/completions", json=BODY)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [(a["provider"], a["error_class"]) for a in out["attempts"]] == [
        ("openai", "rate_limited"),
        ("openai", "rate_limited"),
        ("azure_openai", None),
    ]
    assert time.monotonic() - started >= 0.3, "the retry must wait for the provider's retry-after"


async def test_429_everywhere_is_a_429_with_retry_after(
    client: httpx.AsyncClient, sim: SimulatorServer
) -> None:
    # A 429 that failover could not absorb stays a 429 (what SDKs back off on); its code says it
    # was the providers' limit, not the caller's own (``rate_limited``).
    sim.simulator.inject("http_429", retry_after=0.1)
    r = await client.post("/v1/ai/completions", json=BODY)
    assert r.status_code == 429, r.text
    error = r.json()["error"]
    assert (error["code"], error["type"]) == ("upstream_rate_limited", "rate_limit_error")
    assert r.headers["retry-after"] == "1"
