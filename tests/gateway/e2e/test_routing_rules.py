"""Routing rules from the CLI decide the candidates; the fallback chain takes over when the
preferred provider fails; the vault links each request to the rule that routed it."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
from typer.testing import CliRunner

from gateway.pipeline.per_customer import PerCustomer
from tests.gateway.e2e.conftest import Gateway, run, wait_for_rows
from warehouse.hashing import hash_key

RULES_TTL = PerCustomer(lambda _: None).ttl  # type: ignore[arg-type, return-value]


async def ask(gw: Gateway, body: dict) -> dict:
    headers = {"authorization": f"Bearer {gw.key}"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30) as c:
        r = await c.post("/v1/ai/completions", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_rule_with_fallback_chain(gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool) -> None:
    created = await run(
        cli,
        "rules",
        "create",
        "acme",
        "--name",
        "triage-on-claude",
        "--priority",
        "10",
        "--when",
        json.dumps({"type": "medical_analysis", "tags": {"team": "care"}}),
        "--target",
        "anthropic/claude-3-5-haiku-latest",
        "--fallback",
        "gemini/gemini-1.5-flash",
        "--json",
    )
    assert created.exit_code == 0, created.output
    rule = json.loads(created.output)

    body = {"prompt": "triage", "type": "medical_analysis", "tags": {"team": "care"}}
    routed = await ask(gateway, body)
    assert (routed["provider"], routed["model"]) == ("anthropic", "claude-3-5-haiku-latest")
    assert routed["route"]["rule"] == rule["rule_id"] and "triage-on-claude" in routed["route"]["reason"]

    other = await ask(gateway, {"prompt": "hello", "type": "chat"})  # no match: default routing
    assert other["route"]["rule"] is None and other["provider"] == "openai"

    gateway.sim.simulator.inject("http_500", match={"api_style": "anthropic"})
    failed_over = await ask(gateway, body)
    assert failed_over["provider"] == "gemini" and failed_over["route"]["reason"].endswith("failover")

    sql = "select count(*) from raw_vault.lnk_api_request_context where routing_rule_hk = $1"
    n = await wait_for_rows(
        vault_pool, sql.replace("$1", "'\\x" + hash_key(rule["rule_id"]).hex() + "'::bytea"), 2
    )
    assert n == 2


async def test_rules_test_explains_the_match(gateway: Gateway, cli: CliRunner) -> None:
    await run(
        cli,
        "rules",
        "create",
        "acme",
        "--name",
        "big-gpt",
        "--priority",
        "5",
        "--when",
        '{"model_prefix": "gpt-4o"}',
        "--target",
        "azure_openai/gpt-4o",
    )
    await run(
        cli,
        "rules",
        "create",
        "acme",
        "--name",
        "vip",
        "--priority",
        "1",
        "--when",
        '{"priority": "high"}',
        "--target",
        "anthropic/claude-3-5-sonnet-latest",
    )
    done = await run(cli, "rules", "test", "acme", '{"model": "gpt-4o-mini", "priority": "low"}', "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert result["match"]["name"] == "big-gpt"
    assert result["evaluated"][0] == {
        "rule_id": result["evaluated"][0]["rule_id"],
        "name": "vip",
        "why_not": "priority is 'low', rule wants 'high'",
    }
    assert gateway.sim.simulator.stats.snapshot()["total"] == 0  # a dry run calls nobody


async def test_disabled_rules_stop_routing_and_bad_rules_are_refused(
    gateway: Gateway, cli: CliRunner
) -> None:
    created = json.loads(
        (
            await run(
                cli,
                "rules",
                "create",
                "acme",
                "--name",
                "all-gemini",
                "--target",
                "gemini/gemini-1.5-pro",
                "--json",
            )
        ).output
    )
    assert (await ask(gateway, {"prompt": "x"}))["provider"] == "gemini"
    assert (await run(cli, "rules", "disable", created["rule_id"])).exit_code == 0
    await asyncio.sleep(RULES_TTL + 0.5)  # each gateway re-reads a customer's rules within the TTL
    assert (await ask(gateway, {"prompt": "x"}))["provider"] == "openai"
    bad = await run(cli, "rules", "create", "acme", "--name", "x", "--target", "openai", "--when", "{}")
    assert bad.exit_code == 1 and "provider/model" in bad.output
    unknown = await run(
        cli,
        "rules",
        "create",
        "acme",
        "--name",
        "x",
        "--target",
        "openai/gpt-4o",
        "--when",
        '{"weekday": "mon"}',
    )
    assert unknown.exit_code == 1 and "unknown rule condition" in unknown.output
