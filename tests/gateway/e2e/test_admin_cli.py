"""Operators manage customers and keys through the CLI; the gateway obeys within seconds and
the vault keeps every state as history."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import httpx
from typer.testing import CliRunner

from tests.gateway.e2e.conftest import Gateway, run


async def status_of(gw: Gateway, key: str, model: str = "gpt-4o-mini") -> httpx.Response:
    async with httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {key}"}) as c:
        return await c.post("/v1/ai/completions", json={"prompt": "hi", "model": model})


async def eventually_refused(gw: Gateway, key: str, within: float = 8.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await status_of(gw, key)).status_code == 401:
            return True
        await asyncio.sleep(0.25)
    return False


async def test_customer_limits_from_the_cli_apply_to_the_next_request(
    gateway: Gateway, cli: CliRunner
) -> None:
    done = await run(cli, "customers", "update", "acme", "--rpm", "50", "--budget-daily", "25", "--json")
    assert done.exit_code == 0, done.output
    config = json.loads(done.output)
    assert config["rate_limit_rpm"] == 50 and config["budget_daily"] == "25"
    shown = json.loads((await run(cli, "customers", "show", "acme", "--json")).output)
    assert shown["rate_limit_rpm"] == 50
    r = await status_of(gateway, gateway.key)
    assert r.status_code == 200 and int(r.headers["x-ratelimit-remaining-requests"]) < 50


async def test_refused_changes_say_why(gateway: Gateway, cli: CliRunner) -> None:
    missing = await run(cli, "customers", "update", "nobody", "--rpm", "5")
    assert missing.exit_code == 1 and "no customer 'nobody'" in missing.output
    bad = await run(cli, "customers", "update", "acme", "--status", "paused")
    assert bad.exit_code == 1 and "active" in bad.output


async def test_rotate_then_revoke(gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool) -> None:
    listed = json.loads((await run(cli, "keys", "list", "acme", "--json")).output)
    assert [k["key_id"] for k in listed] == [gateway.key_id]
    assert all("key_hash" not in k and "key" not in k for k in listed)

    rotated = await run(cli, "keys", "rotate", gateway.key_id, "--grace-hours", "1", "--json")
    assert rotated.exit_code == 0, rotated.output
    new = json.loads(rotated.output)
    assert new["replaces"] == gateway.key_id and new["key"].startswith("ov_")
    assert (await status_of(gateway, gateway.key)).status_code == 200  # within its grace period
    assert (await status_of(gateway, new["key"])).status_code == 200

    revoked = await run(cli, "keys", "revoke", new["key_id"])
    assert revoked.exit_code == 0, revoked.output
    assert await eventually_refused(gateway, new["key"])
    again = await run(cli, "keys", "revoke", new["key_id"])
    assert again.exit_code == 1 and "already revoked" in again.output

    history = await vault_pool.fetch(
        "select s.status, s.changed_by from raw_vault.sat_gateway_key_details s "
        "join raw_vault.hub_gateway_key h using (gateway_key_hk) where h.gateway_key_bk = $1 "
        "order by s.load_dts",
        gateway.key_id,
    )
    assert [r["status"] for r in history] == ["active", "rotated"]
    assert history[-1]["changed_by"].startswith("cli:")


async def test_hipaa_customers_only_reach_eligible_providers(gateway: Gateway, cli: CliRunner) -> None:
    done = await run(cli, "customers", "update", "acme", "--compliance", "hipaa")
    assert done.exit_code == 0, done.output
    claude = await status_of(gateway, gateway.key, "claude-3-5-haiku-latest")  # anthropic: eligible
    assert claude.status_code == 200 and claude.json()["provider"] == "anthropic"
    gpt = await status_of(gateway, gateway.key, "gpt-4o-mini")  # openai/azure: not marked eligible
    assert gpt.status_code == 422 and gpt.json()["error"]["code"] == "compliance_no_route"
    assert gateway.sim.simulator.stats.snapshot()["by_api_style"].get("openai", 0) == 0


async def test_cli_changes_are_audited_too(
    gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool
) -> None:
    await run(cli, "customers", "update", "acme", "--rpm", "40")
    await run(cli, "customers", "update", "nobody", "--rpm", "40")
    rows = await vault_pool.fetch(
        "select action, target, outcome, status_code, actor, detail, record_source "
        "from raw_vault.sat_admin_action_details order by action_ts"
    )
    assert [(r["action"], r["target"], r["outcome"]) for r in rows] == [
        ("customers.update", "acme", "ok"),
        ("customers.update", "nobody", "refused"),
    ]
    assert rows[0]["detail"] == "rate_limit_rpm" and rows[1]["status_code"] == 404
    assert all(r["actor"].startswith("cli:") and r["record_source"] == "cli" for r in rows)
