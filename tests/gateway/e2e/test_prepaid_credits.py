"""Prepaid credits through the gateway: grants made, voided and shown by the admin API and the
CLI; a prepaid customer served until its credit runs out, then refused 402 credit_exhausted;
concurrent requests never overspend the wallet; the low-balance webhook fires once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from decimal import Decimal

import asyncpg
import httpx
import redis.asyncio as aioredis
from typer.testing import CliRunner

from gateway.admin.credits import balances, grant_credit
from tests.gateway.e2e.conftest import Gateway, ServerThread, issue_key, run, wait_for_rows
from tests.gateway.e2e.test_admin_api import admin
from tests.gateway.e2e.webhooks import Receiver

BODY = {"prompt": "hello", "model": "gpt-4o", "max_tokens": 80}


def slug() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


def client(gw: Gateway, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30)


async def customer_cost(pool: asyncpg.Pool, customer: str) -> Decimal:
    return await pool.fetchval(
        "select coalesce(sum(c.customer_cost), 0) from raw_vault.sat_cost_event_details c "
        "join raw_vault.lnk_cost_event_api_request l using (cost_event_hk) "
        "join raw_vault.lnk_api_request_context x using (api_request_hk) "
        "join raw_vault.hub_customer h using (customer_hk) where h.customer_bk = $1",
        customer,
    )


async def test_grant_void_and_show_through_the_admin_api(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    customer = slug()
    async with admin(gateway) as c:
        made = await c.post("/admin/v1/customers", json={"slug": customer})
        assert made.status_code == 201, made.text
        first = await c.post(
            f"/admin/v1/customers/{customer}/credits",
            json={"amount": "25.00", "priority": 10, "description": "Welcome credit"},
            headers={"x-onevault-actor": "alice"},
        )
        assert first.status_code == 201, first.text
        grant = first.json()
        assert (
            grant["grant_id"].startswith("cg_") and grant["currency"] == "USD" and grant["amount"] == "25.00"
        )
        second = await c.post(
            f"/admin/v1/customers/{customer}/credits",
            json={"amount": "5.00", "scope": "provider:openai", "expires": "2099-01-01T00:00:00Z"},
        )
        assert second.status_code == 201 and second.json()["scope"] == "provider:openai"
        bad = await c.post(
            f"/admin/v1/customers/{customer}/credits", json={"amount": "1", "scope": "vendor:x"}
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "admin_refused"
        negative = await c.post(f"/admin/v1/customers/{customer}/credits", json={"amount": "-1"})
        assert negative.status_code == 422
        nobody = await c.post("/admin/v1/customers/nobody-here/credits", json={"amount": "1"})
        assert nobody.status_code == 404

        voided = await c.post(f"/admin/v1/credits/{grant['grant_id']}/void", json={"reason": "typo"})
        assert voided.status_code == 200 and voided.json()["status"] == "voided"
        again = await c.post(f"/admin/v1/credits/{grant['grant_id']}/void", json={})
        assert again.status_code == 409
        unknown = await c.post("/admin/v1/credits/cg_000000000000/void", json={})
        assert unknown.status_code == 404

        shown = (await c.get(f"/admin/v1/customers/{customer}/credits")).json()
    assert shown["billing_mode"] == "postpaid" and shown["balance"] == "5.00"
    by_id = {g["grant_id"]: g for g in shown["grants"]}
    assert by_id[grant["grant_id"]]["status"] == "voided" and by_id[grant["grant_id"]]["remaining"] == "0"
    assert by_id[second.json()["grant_id"]]["remaining"] == "5.00"
    assert "E" not in json.dumps(shown)  # fixed-point money, never 0E-12

    # Insert-only: the void is a second row, with who made each change.
    rows = await vault_pool.fetch(
        "select s.status, s.changed_by, s.void_reason from raw_vault.sat_credit_grant_details s "
        "join raw_vault.hub_credit_grant h using (credit_grant_hk) where h.credit_grant_bk = $1 "
        "order by s.load_dts",
        grant["grant_id"],
    )
    assert [(r["status"], r["changed_by"], r["void_reason"]) for r in rows] == [
        ("active", "admin-token:alice", None),
        ("voided", "admin-token:ops-bot", "typo"),  # the admin client names its actor
    ]
    actions = await vault_pool.fetch(
        "select action, outcome from raw_vault.sat_admin_action_details where action like 'credits.%' "
        "and (target = $1 or target = $2)",
        customer,
        grant["grant_id"],
    )
    assert {(a["action"], a["outcome"]) for a in actions} >= {
        ("credits.grant", "ok"),
        ("credits.grant", "refused"),
        ("credits.void", "ok"),
        ("credits.void", "refused"),
        ("credits.show", "ok"),
    }


async def test_grant_void_and_show_through_the_cli(
    gateway: Gateway, vault_pool: asyncpg.Pool, cli: CliRunner
) -> None:
    customer = slug()
    await issue_key(vault_pool, customer)
    made = await run(cli, "credits", "grant", customer, "10.50", "--priority", "5", "--expires", "2099-12-31",
                     "--scope", "tag:team=ml", "--description", "ML team credit", "--json")  # fmt: skip
    assert made.exit_code == 0, made.output
    grant = json.loads(made.output)
    assert grant["amount"] == "10.50" and grant["scope"] == "tag:team=ml" and grant["priority"] == 5
    shown = await run(cli, "credits", "show", customer)
    assert shown.exit_code == 0 and grant["grant_id"] in shown.output and "balance 10.50 USD" in shown.output
    voided = await run(cli, "credits", "void", grant["grant_id"], "--reason", "wrong team")
    assert voided.exit_code == 0, voided.output
    twice = await run(cli, "credits", "void", grant["grant_id"])
    assert twice.exit_code == 1 and "already voided" in twice.output
    data = json.loads((await run(cli, "credits", "show", customer, "--json")).output)
    assert data["balance"] == "0.00" and data["grants"][0]["status"] == "voided"
    changed_by = await vault_pool.fetchval(
        "select array_agg(s.changed_by order by s.load_dts) from raw_vault.sat_credit_grant_details s "
        "join raw_vault.hub_credit_grant h using (credit_grant_hk) where h.credit_grant_bk = $1",
        grant["grant_id"],
    )
    assert all(c.startswith("cli:") for c in changed_by) and len(changed_by) == 2
    bad = await run(cli, "credits", "grant", customer, "1.005")
    assert bad.exit_code == 1 and "cents" in bad.output


async def test_a_prepaid_customer_is_served_until_its_credit_runs_out(
    gateway: Gateway, vault_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer, billing_mode="prepaid")
    async with client(gateway, key) as c:
        none = await c.post("/v1/ai/completions", json=BODY)  # prepaid, no credit yet
        assert none.status_code == 402 and none.json()["error"]["code"] == "credit_exhausted"
        await grant_credit(vault_pool, customer, Decimal("0.01"), changed_by="t")
        await redis_client.hset(f"ov:credit:{customer}", "seeded", 0)  # what admin grant does
        statuses: list[int] = []
        ok: list[httpx.Response] = []
        for _ in range(40):
            r = await c.post("/v1/ai/completions", json=BODY)
            statuses.append(r.status_code)
            if r.status_code != 200:
                break
            ok.append(r)
        refused = r
    assert statuses[-1] == 402 and len(ok) >= 3, statuses
    error = refused.json()["error"]
    assert error["code"] == "credit_exhausted" and error["request_id"]
    assert Decimal(error["details"]["balance"]) < Decimal(error["details"]["estimated_max_cost"])
    spent = sum(Decimal(r.json()["cost"]["customer_cost"]) for r in ok)
    assert spent <= Decimal("0.01")
    # The vault's ledger says the same: what the grant used is what the requests cost.
    sql = (
        "select count(*) from raw_vault.sat_cost_event_details c join raw_vault.lnk_cost_event_api_request l "
        "using (cost_event_hk) join raw_vault.lnk_api_request_context x using (api_request_hk) "
        f"join raw_vault.hub_customer h using (customer_hk) where h.customer_bk = '{customer}'"
    )
    assert await wait_for_rows(vault_pool, sql, len(ok)) == len(ok)
    (grant,) = await balances(vault_pool, customer)
    assert grant.used == spent == await customer_cost(vault_pool, customer)
    assert grant.remaining == Decimal("0.01") - spent


async def test_concurrent_requests_never_overspend_the_wallet(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer, billing_mode="prepaid")
    await grant_credit(vault_pool, customer, Decimal("0.01"), changed_by="t")
    async with client(gateway, key) as c:
        responses = await asyncio.gather(*(c.post("/v1/ai/completions", json=BODY) for _ in range(60)))
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 402]
    assert len(ok) + len(refused) == 60 and ok and refused
    assert {r.json()["error"]["code"] for r in refused} == {"credit_exhausted"}
    spent = sum(Decimal(r.json()["cost"]["customer_cost"]) for r in ok)
    assert spent <= Decimal("0.01")  # worst cases were held: the sum can never pass the credit


async def test_the_low_balance_webhook_fires_once(
    gateway: Gateway, vault_pool: asyncpg.Pool, port_picker: Callable[[], int]
) -> None:
    receiver = Receiver()
    server = await asyncio.to_thread(ServerThread(receiver.app, port_picker()).start)  # type: ignore[arg-type]
    customer = slug()
    try:
        async with admin(gateway) as c:
            made = await c.post(
                "/admin/v1/customers",
                json={
                    "slug": customer,
                    "billing_mode": "prepaid",
                    "low_balance_threshold": "0.01",
                    "budget_webhook_url": f"{server.url}/hook",
                },
            )
            assert made.status_code == 201, made.text
            assert made.json()["billing_mode"] == "prepaid"
            receiver.secret = made.json()["webhook_secret"]
            key = (await c.post(f"/admin/v1/customers/{customer}/keys", json={})).json()["key"]
            granted = await c.post(f"/admin/v1/customers/{customer}/credits", json={"amount": "0.02"})
            assert granted.status_code == 201
        async with client(gateway, key) as c:
            statuses: list[int] = []
            while len(statuses) < 80 and 402 not in statuses:
                statuses.append((await c.post("/v1/ai/completions", json=BODY)).status_code)
        assert 200 in statuses and 402 in statuses  # under 0.01 on the way, then exhausted
        for _ in range(100):
            if receiver.accepted:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # nothing more may come
    finally:
        await asyncio.to_thread(server.stop)
    assert len(receiver.accepted) == 1, receiver.accepted
    (hook,) = receiver.accepted
    assert hook["type"] == "credit.low_balance" and hook["customer"] == customer
    assert Decimal(hook["balance"]) < Decimal("0.01") and hook["threshold"] == "0.01"
    assert hook["currency"] == "USD"
    sql = (
        "select count(*) from raw_vault.sat_budget_alert_delivery where scope = 'credit:"
        + customer
        + "' and outcome = 'delivered'"
    )
    assert await wait_for_rows(vault_pool, sql, 1) == 1
