"""Failover as an operator sets it up, through the CLI only: a customer, two of its own keys for two
simulated providers serving the same model, a rule preferring one with fallback to the other;
the preferred provider breaks: requests still succeed through the fallback, every attempt is in
the vault naming the key it used, the circuit opens, and closes again once the provider heals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from gateway.app import GatewayConfig, create_app
from gateway.simulator import SimulatorServer
from tests.gateway.e2e.conftest import (
    ServerThread,
    forget_shared_state,
    gateway_settings,
    run,
    wait_for_rows,
    write_catalog,
)
from warehouse.embedded import RedisEndpoint
from warehouse.settings import Settings, get_settings

COOLDOWN_S = 1.0


@pytest.fixture
async def short_breaker(
    vault_dsn: str,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,
    tmp_path: Path,
    port_picker: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[str, Settings]]:
    """A gateway whose breaker opens after 3 failures and cools down in a second; the CLI
    pointed at the same vault, Redis and home."""
    await forget_shared_state(redis_server)
    settings = gateway_settings(
        tmp_path, breaker_threshold=3, breaker_window_s=30, breaker_cooldown_s=COOLDOWN_S
    )
    monkeypatch.setenv("ONEVAULT_DATABASE_URL", vault_dsn)
    monkeypatch.setenv("ONEVAULT_REDIS_URL", redis_server.url)
    monkeypatch.setenv("ONEVAULT_HOME", str(tmp_path))
    get_settings.cache_clear()
    config = GatewayConfig(settings, vault_dsn, redis_server.url, write_catalog(tmp_path, sim.url))
    server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
    yield server.url, settings
    await asyncio.to_thread(server.stop)
    get_settings.cache_clear()


async def ok(cli: CliRunner, *args: str, stdin: str | None = None) -> dict:
    done = await run(cli, *args, "--json", stdin=stdin)
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


async def test_preferred_provider_breaks_fallback_serves_breaker_opens_then_closes(
    short_breaker: tuple[str, Settings],
    sim: SimulatorServer,
    vault_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
) -> None:
    url, _ = short_breaker
    cli = CliRunner()
    assert (await run(cli, "customers", "create", "clinic")).exit_code == 0
    key = (await ok(cli, "keys", "create", "clinic"))["key"]
    preferred = await ok(
        cli, "provider-keys", "add", "clinic", "openai", "--api-style", "openai", stdin="sk-clinic-openai"
    )
    fallback = await ok(
        cli,
        "provider-keys",
        "add",
        "clinic",
        "azure_openai",
        "--api-style",
        "azure_openai",
        stdin="sk-clinic-azure",
    )
    rule = await ok(
        cli,
        "rules",
        "create",
        "clinic",
        "--name",
        "openai-first",
        "--target",
        "openai/gpt-4o",
        "--fallback",
        "azure_openai/gpt-4o",
    )
    explained = await ok(cli, "rules", "test", "clinic", '{"model": "gpt-4o"}')
    assert explained["match"]["rule_id"] == rule["rule_id"]

    body = {"prompt": "hello", "model": "gpt-4o"}
    # The circuit is the customer's own key's (an own key is its own upstream, never the platform's).
    circuit = f"ov:cb:openai~{preferred['key_id']}:gpt-4o"
    open_flag = f"{circuit}:open"
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}) as c:
        healthy = (await c.post("/v1/ai/completions", json=body)).json()
        assert healthy["provider"] == "openai" and healthy["route"]["rule"] == rule["rule_id"]

        fault = sim.simulator.inject("http_500", match={"api_style": "openai"})
        answers = [await c.post("/v1/ai/completions", json=body) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        routes = [[a["provider"] for a in r.json()["attempts"]] for r in answers]
        # Two tries on openai, then azure; the third openai failure opens the circuit; then
        # openai is skipped without a call.
        assert routes == [
            ["openai", "openai", "azure_openai"],
            ["openai", "azure_openai"],
            ["azure_openai"],
        ]
        assert await redis_client.exists(open_flag)

        sim.simulator.faults.remove(fault)
        await asyncio.sleep(COOLDOWN_S + 0.3)
        healed = (await c.post("/v1/ai/completions", json=body)).json()
        assert healed["provider"] == "openai" and len(healed["attempts"]) == 1
        assert not await redis_client.exists(open_flag)
        assert not await redis_client.exists(f"{circuit}:fails")  # closed, not just cooled

    # Every attempt is in the vault, naming the customer's key it used.
    attempts_sql = """
        select h.provider_key_bk, a.outcome, count(*)
        from raw_vault.sat_api_request_attempt a
        join raw_vault.hub_provider_key h using (provider_key_hk)
        group by 1, 2 order by 1, 2
    """
    await wait_for_rows(vault_pool, "select count(*) from raw_vault.sat_api_request_attempt", 8)
    rows = {(r[0], r[1]): r[2] for r in await vault_pool.fetch(attempts_sql)}
    assert rows == {
        (preferred["key_id"], "success"): 2,
        (preferred["key_id"], "error"): 3,
        (fallback["key_id"], "success"): 3,
    }
    # The configuration itself was recorded as CLI admin actions.
    actions = await vault_pool.fetch(
        "select action from raw_vault.sat_admin_action_details where record_source = 'cli' order by action_ts"
    )
    assert [a["action"] for a in actions] == [
        "customers.create",
        "keys.create",
        "provider_keys.add",
        "provider_keys.add",
        "rules.create",
    ]
