"""A gateway key limited to some models gets only those: not the catalog default when the request
names no model, and not what a routing rule would route it to — 403 naming the model, before any
provider call; a rule's allowed candidates still serve."""

from __future__ import annotations

import asyncpg
import httpx

from gateway.admin.keys import create_gateway_key
from gateway.admin.rules import create_rule
from tests.gateway.e2e.conftest import Gateway


async def test_the_default_model_and_rule_targets_are_held_to_the_keys_list(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    limited = (await create_gateway_key(vault_pool, "acme", changed_by="t", allowed_models=("gpt-4o",))).key
    await create_rule(vault_pool, "acme", changed_by="t", name="cheaper", target="openai/gpt-4o-mini")
    await create_rule(
        vault_pool,
        "acme",
        changed_by="t",
        name="chain",
        priority=10,
        conditions={"tags": {"team": "chain"}},
        target="openai/o3-mini",
        fallback=["openai/gpt-4o"],
    )
    calls = gateway.sim.simulator.stats.snapshot()["total"]
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"authorization": f"Bearer {limited}"}, timeout=30
    ) as c:
        no_model = await c.post("/v1/ai/completions", json={"prompt": "hi"})
        by_rule = await c.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o"})
        assert gateway.sim.simulator.stats.snapshot()["total"] == calls  # neither reached a provider
        chain = await c.post(
            "/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o", "tags": {"team": "chain"}}
        )
    assert no_model.status_code == 403, no_model.text
    assert no_model.json()["error"]["code"] == "model_not_allowed"
    assert "gpt-4o-mini" in no_model.json()["error"]["message"]  # names the model it would have been
    assert by_rule.status_code == 403, by_rule.text
    assert "'gpt-4o-mini' (a routing rule chose it)" in by_rule.json()["error"]["message"]
    assert chain.status_code == 200, chain.text
    assert chain.json()["model"] == "gpt-4o"  # the rule's o3-mini is passed over, its allowed fallback serves
