"""The semantic cache's embedding call is a provider call like any other: for a HIPAA customer it
goes only to HIPAA-eligible providers (even when an ineligible one is the catalog's first choice
for the embedding model), and it is held against — and settled into — the customer's budget."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

from gateway.cli.up import simulator_catalog
from gateway.enforcement.budget import BudgetGuard
from gateway.simulator import SimulatorServer
from tests.gateway.e2e.conftest import issue_key, wait_for_rows
from tests.security.conftest import StartGateway

EMBEDDING = "text-embedding-3-small"  # the customer's default embedding model
COSTS = """
select h.api_request_bk as id, d.request_type, c.customer_cost,
       (select string_agg(distinct a.provider_bk, ',') from raw_vault.sat_api_request_attempt a
        where a.api_request_hk = h.api_request_hk) as tried
from raw_vault.hub_api_request h
join raw_vault.sat_api_request_details d using (api_request_hk)
join raw_vault.lnk_cost_event_api_request l using (api_request_hk)
join raw_vault.sat_cost_event_details c using (cost_event_hk)
"""


def catalog(home: Path, sim_url: str) -> Path:
    """Gemini (not HIPAA-eligible) first: without compliance routing it would embed the text."""
    providers = {p["name"]: p for p in simulator_catalog(sim_url)["providers"]}
    providers["openai"]["hipaa_eligible"] = True
    providers["anthropic"]["hipaa_eligible"] = False  # it has no embeddings API
    order = ["gemini", "openai", "anthropic", "azure_openai", "cohere"]
    path = home / "hipaa-providers.json"
    path.write_text(json.dumps({"default_model": "gpt-4o-mini", "providers": [providers[n] for n in order]}))
    return path


async def test_the_embedding_call_is_compliant_and_budgeted(
    start_gateway: StartGateway,
    vault_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    sim: SimulatorServer,
    tmp_path: Path,
) -> None:
    prices = tmp_path / "prices.json"  # an embedding expensive enough to show in micro-dollars
    prices.write_text(
        json.dumps(
            {
                "prices": [
                    {
                        "provider": "openai",
                        "model": EMBEDDING,
                        "input_per_mtok": "1000",
                        "output_per_mtok": "0",
                    }
                ]
            }
        )
    )
    gw = await start_gateway(catalog=catalog(tmp_path, sim.url), prices_file=prices)
    key, _ = await issue_key(
        vault_pool,
        "clinic",
        compliance_level="hipaa",
        cache_mode="semantic",
        retention_mode="encrypted",
        budget_daily=Decimal("10"),
    )
    async with httpx.AsyncClient(
        base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30
    ) as c:
        r = await c.post(
            "/v1/ai/completions", json={"prompt": "What are the symptoms of flu?", "model": "gpt-4o-mini"}
        )
    assert r.status_code == 200, r.text
    assert r.json()["provider"] == "openai"

    embeddings = [e for e in sim.simulator.stats.snapshot()["recent"] if e.get("kind") == "embedding"]
    assert embeddings, "the semantic cache did not embed the prompt"
    assert {e["api_style"] for e in embeddings} == {"openai"}, "the text reached an ineligible provider"

    assert await wait_for_rows(vault_pool, f"select count(*) from ({COSTS}) x", 2) == 2
    rows = await vault_pool.fetch(COSTS)
    embedded = [x for x in rows if x["request_type"] == "embedding"]
    assert [x["tried"] for x in embedded] == ["openai"] and embedded[0]["customer_cost"] > 0
    billed = sum((x["customer_cost"] for x in rows), Decimal(0))
    budget = f"ov:budget:customer:clinic:d:{datetime.now(timezone.utc):%Y-%m-%d}"
    spent, held = await BudgetGuard(redis_client).spent(budget)
    assert held == 0, "a reservation was never settled"
    assert abs(spent - billed) <= Decimal("0.000002"), f"budget counted {spent}, the vault billed {billed}"
