"""The control plane's newer half over real HTTP: rules in the admin API (history, audit,
tenant isolation), strategies and retry policies on live traffic, over-budget downgrade,
customers' own provider keys (validate, budgets, allowed models)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
from typer.testing import CliRunner

from gateway.pipeline.per_customer import PerCustomer
from tests.gateway.e2e.conftest import Gateway, issue_key, run
from tests.gateway.e2e.test_admin_api import admin


async def ask(gw: Gateway, body: dict, key: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key or gw.key}"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30) as c:
        return await c.post("/v1/ai/completions", json=body)


async def test_rules_through_the_admin_api_keep_history_and_stay_per_customer(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    await issue_key(vault_pool, "globex")
    async with admin(gateway) as c:
        made = await c.post(
            "/admin/v1/customers/acme/rules",
            json={
                "name": "claude-first",
                "priority": 5,
                "target": "anthropic/claude-3-5-haiku-latest",
                "fallback": ["gemini/gemini-1.5-flash"],
                "retry_policy": {"max_attempts": 1},
            },
        )
        assert made.status_code == 201, made.text
        rule = made.json()
        assert (await ask(gateway, {"prompt": "x"})).json()["provider"] == "anthropic"  # at once here

        bad = await c.post("/admin/v1/customers/acme/rules", json={"name": "x", "strategy": "weighted"})
        assert bad.status_code == 422 and "weights" in bad.json()["error"]["message"]
        unknown_field = await c.post("/admin/v1/customers/acme/rules", json={"name": "x", "colour": "red"})
        assert unknown_field.status_code == 422

        patched = await c.patch(
            f"/admin/v1/rules/{rule['rule_id']}", json={"target": "gemini/gemini-1.5-pro"}
        )
        assert patched.status_code == 200 and patched.json()["target"] == "gemini/gemini-1.5-pro"
        assert patched.json()["fallback"] == ["gemini/gemini-1.5-flash"]  # untouched fields stay
        assert (await ask(gateway, {"prompt": "x"})).json()["model"] == "gemini-1.5-pro"

        dry = await c.post("/admin/v1/customers/acme/rules/test", json={"model": "gpt-4o"})
        assert dry.json()["match"]["rule_id"] == rule["rule_id"]
        assert dry.json()["candidates"] == ["gemini/gemini-1.5-pro", "gemini/gemini-1.5-flash"]
        assert (await c.post("/admin/v1/customers/globex/rules/test", json={})).json()["match"] is None

        assert (await c.get("/admin/v1/customers/globex/rules")).json()["data"] == []  # isolation
        listed = (await c.get("/admin/v1/customers/acme/rules")).json()["data"]
        assert [r["rule_id"] for r in listed] == [rule["rule_id"]]
        assert (await c.get("/admin/v1/customers/nobody/rules")).status_code == 404

        off = await c.post(f"/admin/v1/rules/{rule['rule_id']}/disable")
        assert off.status_code == 200 and off.json()["active"] is False
        assert (await c.post(f"/admin/v1/rules/{rule['rule_id']}/disable")).status_code == 409
        assert (await ask(gateway, {"prompt": "x"})).json()["provider"] == "openai"
        assert (await c.patch("/admin/v1/rules/rr_nope", json={"priority": 1})).status_code == 404

    history = await vault_pool.fetch(
        "select changed_by, target_model, is_active from raw_vault.sat_routing_rule_definition "
        "order by load_dts"
    )
    assert [(h["target_model"], h["is_active"]) for h in history] == [
        ("claude-3-5-haiku-latest", True),
        ("gemini-1.5-pro", True),
        ("gemini-1.5-pro", False),
    ]
    assert {h["changed_by"] for h in history} == {"admin-token:ops-bot"}
    actions = [
        r["action"]
        for r in await vault_pool.fetch(
            "select action from raw_vault.sat_admin_action_details "
            "where action like 'rules.%' order by action_ts"
        )
    ]
    assert actions.count("rules.create") == 2 and "rules.update" in actions and "rules.test" in actions


async def test_retry_policy_and_fastest_from_the_gateways_own_window(
    gateway: Gateway, cli: CliRunner
) -> None:
    sim = gateway.sim.simulator
    created = await run(
        cli, "rules", "create", "acme", "--name", "no-retry", "--target", "openai/gpt-4o",
        "--fallback", "azure_openai/gpt-4o", "--retry", '{"max_attempts": 1}', "--json",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    sim.inject("http_500", match={"api_style": "openai"}, count=1)
    once = (await ask(gateway, {"prompt": "x", "model": "gpt-4o"})).json()
    assert [a["provider"] for a in once["attempts"]] == ["openai", "azure_openai"]  # no second try

    rule_id = json.loads(created.output)["rule_id"]
    updated = await run(
        cli, "rules", "update", rule_id, "--strategy", "fastest", "--retry", '{"max_attempts": 3}'
    )
    assert updated.exit_code == 0, updated.output
    # openai answers 150 ms late; azure at once: the gateway's own window learns that.
    sim.inject("latency", match={"api_style": "openai"}, latency_ms=150)
    for provider in ("openai", "azure_openai", "openai", "azure_openai"):
        r = await ask(gateway, {"prompt": "x", "model": "gpt-4o", "provider": provider})
        assert r.status_code == 200
    await asyncio.sleep(1.2)  # each gateway flushes its window to Redis every second
    dry = json.loads((await run(cli, "rules", "test", "acme", '{"model": "gpt-4o"}', "--json")).output)
    assert dry["strategy"] == "fastest" and dry["candidates"] == ["azure_openai/gpt-4o", "openai/gpt-4o"]
    assert "gateway window" in dry["why"][0]
    await run(cli, "rules", "test", "acme", '{"model": "gpt-4o"}')  # the text form renders too
    # The gateway's cached rules expire within their TTL; wait for the update to be seen.
    await asyncio.sleep(PerCustomer(lambda _: None).ttl + 0.3)  # type: ignore[arg-type, return-value]
    routed = (await ask(gateway, {"prompt": "x", "model": "gpt-4o"})).json()
    assert routed["provider"] == "azure_openai"
    sim.faults.clear()
    sim.inject("http_500", match={"api_style": "azure_openai"}, count=2)
    retried = (await ask(gateway, {"prompt": "x", "model": "gpt-4o"})).json()
    assert [a["provider"] for a in retried["attempts"]] == ["azure_openai"] * 3  # max_attempts 3


async def test_over_budget_downgrades_when_the_rule_says_so(gateway: Gateway, cli: CliRunner) -> None:
    # gpt-4o's worst case (4096 output tokens at 10 USD/Mtok + 20 %) is ~0.05 USD; mini's ~0.003.
    assert (await run(cli, "customers", "update", "acme", "--budget-daily", "0.01")).exit_code == 0
    made = await run(
        cli, "rules", "create", "acme", "--name", "big", "--target", "openai/gpt-4o",
        "--when", '{"model": "gpt-4o"}',
        "--options", '{"on_budget_exceeded": "downgrade", "downgrade_to": "openai/gpt-4o-mini"}',
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    # o3-mini (~0.02 worst case) matches no downgrading rule: refused as before.
    refused = await ask(gateway, {"prompt": "x", "model": "o3-mini"})
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "budget_exceeded"
    served = await ask(gateway, {"prompt": "x", "model": "gpt-4o"})
    assert served.status_code == 200, served.text
    assert served.json()["model"] == "gpt-4o-mini" and "downgraded" in served.json()["route"]["reason"]
    roomy = await ask(gateway, {"prompt": "x", "model": "gpt-4o", "max_tokens": 50})  # fits: not downgraded
    assert roomy.json()["model"] == "gpt-4o"


async def test_own_key_validate_budget_and_allowed_models(
    gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool
) -> None:
    async def add(provider: str, secret: str, *extra: str) -> dict:
        done = await run(
            cli,
            "provider-keys",
            "add",
            "acme",
            provider,
            "--api-style",
            provider,
            *extra,
            "--json",
            stdin=secret,
        )
        assert done.exit_code == 0, done.output
        return json.loads(done.output)

    good = await add("openai", "sk-good", "--budget-daily", "0.02", "--models", "gpt-4o,gpt-4o-mini")
    bad = await add("anthropic", "invalid")  # the simulator refuses this key
    ok = await run(cli, "provider-keys", "validate", good["key_id"], "--json")
    assert ok.exit_code == 0 and json.loads(ok.output)["validation_status"] == "valid"
    refused = await run(cli, "provider-keys", "validate", bad["key_id"])
    assert refused.exit_code == 3 and "invalid" in refused.output
    async with admin(gateway) as c:
        api = await c.post(f"/admin/v1/provider-keys/{bad['key_id']}/validate")
        assert api.status_code == 200 and api.json()["validation_status"] == "invalid"
        assert "invalid" not in json.dumps({k: v for k, v in api.json().items() if k != "validation_status"})
        assert (await c.post("/admin/v1/provider-keys/pk_nope/validate")).status_code == 404
        kek = await c.post("/admin/v1/provider-keys/rotate-kek")
        assert kek.status_code == 200 and kek.json()["rewrapped"] == 0  # already under the current KEK
        listed = (await c.get("/admin/v1/customers/acme/provider-keys")).json()["data"]
    statuses = {k["key_id"]: (k["validation_status"], k["last_validated_at"] is not None) for k in listed}
    assert statuses == {good["key_id"]: ("valid", True), bad["key_id"]: ("invalid", True)}

    # Allowed models: openai's own key does not cover o3-mini, so openai is passed over (403, no call).
    assert (await run(cli, "provider-keys", "revoke", bad["key_id"])).exit_code == 0
    calls = gateway.sim.simulator.stats.snapshot()["total"]
    not_allowed = await ask(gateway, {"prompt": "x", "model": "o3-mini"})
    assert not_allowed.status_code == 403 and not_allowed.json()["error"]["code"] == "model_not_allowed"
    assert gateway.sim.simulator.stats.snapshot()["total"] == calls
    # Budget: 0.02 USD of provider cost; gpt-4o's worst case ~0.041 does not fit; azure serves.
    over = await ask(gateway, {"prompt": "x", "model": "gpt-4o"})
    assert over.status_code == 200 and over.json()["provider"] == "azure_openai"
    small = await ask(gateway, {"prompt": "x", "model": "gpt-4o", "max_tokens": 100})
    assert small.json()["provider"] == "openai"
    spent = await vault_pool.fetchval("select count(*) from raw_vault.sat_provider_key_details")
    assert spent == 6  # 2 added, 2 + 1 validations, 1 revocation: every change a row
