"""Bad input gets one error envelope and never reaches a provider; upstream failures are
retried, failed over, and reported with the right status — and all of it is recorded."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from gateway.app import GatewayConfig, create_app
from gateway.crypto.keyring import admin_token
from gateway.simulator import SimulatorServer
from tests.gateway.e2e.conftest import (
    Gateway,
    ServerThread,
    forget_shared_state,
    gateway_settings,
    issue_key,
    wait_for_rows,
    write_catalog,
)
from warehouse.embedded import RedisEndpoint


def client(gw: Gateway, key: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {key or gw.key}"}
    return httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30)


def assert_envelope(r: httpx.Response, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"] and error["request_id"].startswith("req_")
    assert r.headers["x-request-id"] == error["request_id"]
    return error


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b'{"model": "gpt-4o-mini"}', 400, "validation_error"),
        (b'{"prompt": "x", "messages": [{"role": "user", "content": "y"}]}', 400, "validation_error"),
        (b'{"prompt": "x", "priority": "urgent"}', 400, "validation_error"),
        (b'{"prompt": "x", "max_tokens": -5}', 400, "validation_error"),
        (b'{"prompt": "x", "model": "no-such-model"}', 404, "model_not_found"),
        (
            b'{"prompt": "x", "model": "gpt-4o", "max_tokens": 4000, "max_cost": 0.000001}',
            402,
            "max_cost_exceeded",
        ),
    ],
)
async def test_bad_requests_never_reach_a_provider(
    gateway: Gateway, body: bytes, status: int, code: str
) -> None:
    async with client(gateway) as c:
        r = await c.post("/v1/ai/completions", content=body, headers={"content-type": "application/json"})
    assert_envelope(r, status, code)
    assert gateway.sim.simulator.stats.snapshot()["total"] == 0


async def test_max_cost_refused_for_streams_before_any_byte(gateway: Gateway) -> None:
    body = {"prompt": "x" * 4000, "model": "gpt-4o", "max_tokens": 8000, "max_cost": "0.0001", "stream": True}
    async with client(gateway) as c:
        r = await c.post("/v1/ai/completions", json=body)
    error = assert_envelope(r, 402, "max_cost_exceeded")
    assert "estimated_max_cost" in error["details"]
    assert gateway.sim.simulator.stats.snapshot()["total"] == 0


@pytest.mark.parametrize(
    ("auth", "code"),
    [(None, "missing_api_key"), ("Bearer ov_000_nope", "invalid_api_key"), ("Basic abc", "missing_api_key")],
)
async def test_bad_credentials_are_401(gateway: Gateway, auth: str | None, code: str) -> None:
    headers = {"authorization": auth} if auth else {}
    async with httpx.AsyncClient(base_url=gateway.url) as c:
        r = await c.post("/v1/ai/completions", json={"prompt": "x"}, headers=headers)
    assert_envelope(r, 401, code)
    assert r.headers["www-authenticate"] == "Bearer"


async def test_oversized_body_is_413(gateway: Gateway) -> None:
    async with client(gateway) as c:
        r = await c.post("/v1/ai/completions", json={"prompt": "x" * (9 * 1024 * 1024)})
    assert_envelope(r, 413, "payload_too_large")
    assert gateway.sim.simulator.stats.snapshot()["total"] == 0


async def test_provider_secret_is_never_echoed(gateway: Gateway) -> None:
    gateway.sim.simulator.inject("http_500", match={"api_style": "anthropic"})
    async with client(gateway) as c:
        r = await c.post("/v1/ai/completions", json={"prompt": "x", "model": "claude-3-5-haiku-latest"})
    assert r.status_code == 502
    assert "sim-anthropic" not in r.text


async def test_failover_to_the_next_provider(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    gateway.sim.simulator.inject("http_500", match={"api_style": "openai"})  # OpenAI is down
    async with client(gateway) as c:
        r = await c.post("/v1/ai/completions", json={"prompt": "hello", "model": "gpt-4o-mini"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["provider"] == "azure_openai" and out["route"]["reason"] == "failover"
    assert [(a["provider"], a["outcome"]) for a in out["attempts"]] == [
        ("openai", "error"),
        ("openai", "error"),
        ("azure_openai", "success"),
    ]
    sql = (
        "select count(*) from raw_vault.sat_api_request_attempt a join raw_vault.hub_api_request h "
        f"using (api_request_hk) where h.api_request_bk = '{out['id']}'"
    )
    assert await wait_for_rows(vault_pool, sql, 3) == 3
    classes = [
        r["error_class"]
        for r in await vault_pool.fetch(
            "select error_class from raw_vault.sat_api_request_attempt order by attempt_no"
        )
    ]
    assert classes == ["server_error", "server_error", None]


async def test_429_is_retried_after_its_retry_after(gateway: Gateway) -> None:
    gateway.sim.simulator.inject("http_429", count=1, retry_after=0.2, match={"api_style": "anthropic"})
    async with client(gateway) as c:
        r = await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "claude-3-5-haiku-latest"})
    assert r.status_code == 200
    out = r.json()
    assert out["route"]["reason"] == "retried" and len(out["attempts"]) == 2
    assert out["attempts"][0]["error_class"] == "rate_limited"
    assert out["latency_ms"] >= 200


async def test_all_upstreams_down_is_recorded_as_error(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    gateway.sim.simulator.inject("http_503", retry_after=0)
    async with client(gateway) as c:
        r = await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o"})
    error = assert_envelope(r, 502, "upstream_error")
    sql = "select count(*) from raw_vault.sat_api_request_details where status = 'error'"
    assert await wait_for_rows(vault_pool, sql, 1) == 1
    row = await vault_pool.fetchrow("select * from raw_vault.sat_api_request_details where status = 'error'")
    assert row["http_status"] == 502 and row["attempt_count"] == 4
    assert error["request_id"]


async def test_broken_stream_is_costed_for_what_was_delivered(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    gateway.sim.simulator.inject("broken_stream", count=1)
    events = []
    async with (
        client(gateway) as c,
        c.stream(
            "POST", "/v1/ai/completions", json={"prompt": "go", "model": "gpt-4o-mini", "stream": True}
        ) as r,
    ):
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                events.append(line)
    assert events[-1] == "data: [DONE]"
    sql = "select count(*) from raw_vault.sat_cost_event_details"
    assert await wait_for_rows(vault_pool, sql, 1) == 1
    req = await vault_pool.fetchrow("select * from raw_vault.sat_api_request_details")
    cost = await vault_pool.fetchrow("select * from raw_vault.sat_cost_event_details")
    assert req["status"] == "error" and req["output_tokens"] > 0
    assert cost["is_priced"] and cost["provider_cost"] > 0


async def test_ready_and_metrics(gateway: Gateway) -> None:
    async with client(gateway) as c:
        await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o-mini"})
        operator = {"authorization": f"Bearer {admin_token(gateway.settings)}"}  # details: operator only
        ready = await c.get("/ready", headers=operator)
        health = await c.get("/health")
        metrics = (await c.get("/metrics", headers=operator)).text
    assert health.json() == {"status": "ok"}
    body = ready.json()
    assert ready.status_code == 200 and body["postgres"]["ok"] and body["redis"]["ok"]
    assert body["loader"]["lag_seconds"] >= 0
    for name in (
        "gen_ai_client_token_usage_bucket",
        "gen_ai_client_operation_duration_seconds_bucket",
        "onevault_request_duration_seconds_bucket",
        "onevault_cost_usd_total",
        "onevault_loader_lag_seconds",
        "onevault_loader_dead_lettered",
    ):
        assert name in metrics, name


async def test_models_lists_prices(gateway: Gateway) -> None:
    async with client(gateway) as c:
        r = await c.get("/v1/ai/models")
    models = {m["id"]: m for m in r.json()["data"]}
    assert models["openai/gpt-4o-mini"]["pricing"]["input_per_mtok"] == "0.15"
    assert models["anthropic/claude-3-5-haiku-latest"]["pricing"]["markup_pct"] == "20"


async def test_logs_never_carry_prompts_or_provider_keys(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    secret_prompt = "my card is 4111 1111 1111 1111, diagnose me"
    gateway.sim.simulator.inject("http_500", match={"api_style": "openai"})
    gateway.sim.simulator.inject("http_503", match={"api_style": "azure_openai"})
    with caplog.at_level("DEBUG"):
        async with client(gateway) as c:
            r = await c.post("/v1/ai/completions", json={"prompt": secret_prompt, "model": "gpt-4o-mini"})
    assert r.status_code == 502
    assert caplog.records, "the failure path should have logged something"
    for secret in (secret_prompt, "4111 1111", "sim-openai", "sim-azure", gateway.key):
        assert secret not in caplog.text
        assert secret not in r.text


async def test_circuit_opens_skips_the_sick_provider_then_closes(
    vault_dsn: str,
    vault_pool: asyncpg.Pool,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,
    tmp_path: Path,
    port_picker: Callable[[], int],
) -> None:
    key, _ = await issue_key(vault_pool)
    await forget_shared_state(redis_server)
    settings = gateway_settings(tmp_path, breaker_threshold=3, breaker_window_s=30, breaker_cooldown_s=1.0)
    config = GatewayConfig(settings, vault_dsn, redis_server.url, write_catalog(tmp_path, sim.url))
    server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
    body = {"prompt": "hi", "model": "gpt-4o-mini"}
    try:
        async with httpx.AsyncClient(base_url=server.url, headers={"authorization": f"Bearer {key}"}) as c:
            fault = sim.simulator.inject("http_500", match={"api_style": "openai"})
            first = (await c.post("/v1/ai/completions", json=body)).json()
            second = (await c.post("/v1/ai/completions", json=body)).json()
            assert [a["provider"] for a in first["attempts"]] == ["openai", "openai", "azure_openai"]
            # The third failure opened the circuit: no second try on openai, and from now on
            # openai is skipped without a call.
            assert [a["provider"] for a in second["attempts"]] == ["openai", "azure_openai"]
            calls = sim.simulator.stats.snapshot()["by_api_style"]["openai"]
            third = (await c.post("/v1/ai/completions", json=body)).json()
            assert [a["provider"] for a in third["attempts"]] == ["azure_openai"]
            assert sim.simulator.stats.snapshot()["by_api_style"]["openai"] == calls

            sim.simulator.faults.remove(fault)
            await asyncio.sleep(1.3)  # cooldown over: the next request probes openai and succeeds
            probe = (await c.post("/v1/ai/completions", json=body)).json()
            assert probe["provider"] == "openai" and len(probe["attempts"]) == 1
    finally:
        await asyncio.to_thread(server.stop)
