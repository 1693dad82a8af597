"""Real traffic end to end: requests through the gateway (simulator as every provider, one
injected upstream failure so a failover is recorded), the loader into the raw vault, a real
``dbt build``, then the marts and the gateway's own /v1/usage and /v1/billing — each customer
seeing only its own rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx

from tests.gateway.e2e.conftest import REAL_REQUESTS, Gateway, issue_key, wait_for_rows

ACME = [
    ("gpt-4o-mini", {"team": "search", "project": "p1"}, "alice"),
    ("gpt-4o", {"team": "search", "cost_center": "cc-1"}, "bob"),
    ("claude-3-5-haiku-latest", {"team": "support"}, "alice"),
    ("gemini-1.5-flash", {}, None),
    ("gpt-4o-mini", {"team": "support"}, "carol"),
    ("claude-3-5-haiku-latest", {"team": "search"}, None),
]
GLOBEX = [("gpt-4o-mini", {"team": "ops"}, "dan"), ("gemini-1.5-flash", {}, None)]


async def send(client: httpx.AsyncClient, key: str, model: str, tags: dict, user: str | None) -> Decimal:
    body = {"prompt": f"Summarise spend for {model}", "model": model, "tags": tags, "max_tokens": 30}
    if user:
        body["user"] = user
    r = await client.post("/v1/ai/completions", json=body, headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return Decimal(r.json()["cost"]["customer_cost"])


async def test_gateway_traffic_builds_marts_that_answer_per_customer(
    gateway: Gateway, vault_dsn: str, vault_pool: asyncpg.Pool, tmp_path: Path, make_dbt
) -> None:
    globex_key, _ = await issue_key(vault_pool, "globex")
    acme = {"authorization": f"Bearer {gateway.key}"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        before = await client.get("/v1/usage", headers=acme)
        assert before.status_code == 503
        assert before.json()["error"]["code"] == "marts_not_built"
        assert "dbt build" in before.json()["error"]["message"]

        gateway.sim.simulator.inject("http_500", match={"api_style": "openai"}, count=1)  # → a failover
        spent = {"acme": Decimal(0), "globex": Decimal(0)}
        for model, tags, user in ACME:
            spent["acme"] += await send(client, gateway.key, model, tags, user)
        for model, tags, user in GLOBEX:
            spent["globex"] += await send(client, globex_key, model, tags, user)
        assert await wait_for_rows(vault_pool, REAL_REQUESTS, len(ACME) + len(GLOBEX)) == len(ACME) + len(
            GLOBEX
        )
        await asyncio.sleep(0.3)  # the loader commits a request's rows together; let the last batch land

        built = await asyncio.to_thread(make_dbt(vault_dsn, tmp_path), "build")
        assert "ERROR=0" in built.stdout

        # The seed's questions, in SQL on the marts.
        spend = await vault_pool.fetch(
            "select customer_slug, sum(requests) as requests, sum(customer_cost) as cost "
            "from marts.spend_daily group by 1"
        )
        assert {r["customer_slug"]: (r["requests"], r["cost"]) for r in spend} == {
            "acme": (len(ACME), spent["acme"]),
            "globex": (len(GLOBEX), spent["globex"]),
        }
        windows = await vault_pool.fetch(
            "select provider, sum(attempts) as attempts, sum(failures_server_error) as failed, "
            "max(p95_latency_ms) as p95 from marts.provider_performance_5m group by 1"
        )
        by_provider = {r["provider"]: r for r in windows}
        assert by_provider["openai"]["failed"] == 1  # the injected 500 counts against OpenAI
        assert all(r["p95"] is not None and r["p95"] > 0 for r in windows if r["attempts"] > r["failed"])
        teams = await vault_pool.fetch(
            "select x_team, sum(billed_cost) as cost from marts.chargeback "
            "where customer_slug = 'acme' group by 1"
        )
        assert {r["x_team"] for r in teams} == {"search", "support", "unallocated"}
        month = datetime.now(UTC).strftime("%Y-%m")
        invoice = await vault_pool.fetchrow(
            "select * from marts.invoices where invoice_id = $1", f"acme/{month}"
        )
        assert invoice["status"] == "draft"
        assert invoice["usage_customer_cost_exact"] == spent["acme"]
        assert sum(r["cost"] for r in teams) == invoice["subtotal"]

        # The gateway reads the marts back, for the calling customer only.
        today = datetime.now(UTC).date().isoformat()
        usage = (await client.get("/v1/usage", params={"from": today, "to": today}, headers=acme)).json()
        assert usage["customer"] == "acme"
        assert usage["totals"]["requests"] == len(ACME)
        assert Decimal(usage["totals"]["customer_cost"]) == spent["acme"]
        assert {(d["provider"], d["model"]) for d in usage["data"]} >= {("gemini", "gemini-1.5-flash")}
        theirs = (await client.get("/v1/usage", headers={"authorization": f"Bearer {globex_key}"})).json()
        assert theirs["customer"] == "globex" and theirs["totals"]["requests"] == len(GLOBEX)

        billing = (await client.get("/v1/billing", headers=acme)).json()
        assert billing["current"]["invoice_id"] == f"acme/{month}"
        assert Decimal(billing["current"]["subtotal"]) == invoice["subtotal"]
        assert [line["line_no"] for line in billing["current"]["lines"]] == list(
            range(1, invoice["line_count"] + 1)
        )
        assert all(i["invoice_id"].startswith("acme/") for i in billing["invoices"])
        globex_billing = (
            await client.get("/v1/billing", headers={"authorization": f"Bearer {globex_key}"})
        ).json()
        assert globex_billing["current"]["invoice_id"] == f"globex/{month}"
        assert "acme" not in str(globex_billing)

        # Bad input: the one error envelope, never a 500.
        for params in ({"from": "2026-13-01"}, {"from": "2026-10-02", "to": "2026-10-01"}):
            bad = await client.get("/v1/usage", params=params, headers=acme)
            envelope = set(bad.json()["error"])
            assert bad.status_code == 400 and envelope >= {"code", "message", "type", "param", "request_id"}
        unauthenticated = await client.get("/v1/billing")
        assert unauthenticated.status_code == 401
