"""Budgets where people spend (sql/018, docs/billing/budgets.md): on a tag value and on an end
user, per day, through the real gateway — refused with a 402 naming the budget once spent,
race-free under concurrency, other tags and users unaffected; soft budgets alert and serve;
a forecast alert fires before the money is gone; the admin API and CLI record who changed them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from gateway.admin.budgets import set_budget
from gateway.app import GatewayConfig, create_app
from gateway.simulator import SimulatorServer
from tests.gateway.e2e.conftest import (
    Gateway,
    ServerThread,
    forget_shared_state,
    gateway_settings,
    issue_key,
    run,
    wait_for_rows,
    write_catalog,
    write_prices,
)
from tests.gateway.e2e.test_admin_api import admin
from tests.gateway.e2e.webhooks import Receiver
from warehouse.embedded import RedisEndpoint

BODY = {"prompt": "hello", "model": "gpt-4o", "max_tokens": 80}


def slug() -> str:
    return f"b{uuid.uuid4().hex[:10]}"


def client(gw: Gateway, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {key}"}, timeout=30)


async def spend_until_refused(c: httpx.AsyncClient, body: dict, most: int = 40) -> list[httpx.Response]:
    answers = []
    for _ in range(most):
        answers.append(await c.post("/v1/ai/completions", json=body))
        if answers[-1].status_code != 200:
            break
    return answers


async def test_tag_and_end_user_budgets_refuse_naming_them_and_spare_the_others(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer)
    tag = await set_budget(
        vault_pool, customer, scope="tag", value="team=search", period="day", limit="0.003", changed_by="t"
    )
    user = await set_budget(
        vault_pool, customer, scope="end_user", value="alice", period="day", limit="0.003", changed_by="t"
    )
    async with client(gateway, key) as c:
        by_tag = await spend_until_refused(c, BODY | {"tags": {"team": "search"}})
        other_team = await c.post("/v1/ai/completions", json=BODY | {"tags": {"team": "ads"}})
        by_user = await spend_until_refused(c, BODY | {"user": "alice"})
        other_user = await c.post("/v1/ai/completions", json=BODY | {"user": "bob", "tags": {"team": "ads"}})
        untagged = await c.post("/v1/ai/completions", json=BODY)

    for answers, budget, scope in ((by_tag, tag, "tag:team=search"), (by_user, user, "end_user:alice")):
        assert 1 < len(answers) < 40 and [r.status_code for r in answers[:-1]] == [200] * (len(answers) - 1)
        refused = answers[-1]
        assert refused.status_code == 402, refused.text
        error = refused.json()["error"]
        assert error["code"] == "budget_exceeded"
        assert scope in error["message"] and "daily" in error["message"]
        details = error["details"]
        assert (details["scope"], details["period"], details["budget"]) == (scope, "daily", "0.003000")
        assert details["budget_id"] == budget.budget_id
        spent = sum(Decimal(r.json()["cost"]["customer_cost"]) for r in answers[:-1])
        assert spent <= Decimal("0.003")
    assert other_team.status_code == 200 and other_user.status_code == 200 and untagged.status_code == 200


async def test_concurrent_requests_cannot_overspend_a_tag_budget(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer)
    await set_budget(
        vault_pool, customer, scope="tag", value="project=apollo", period="day", limit="0.01", changed_by="t"
    )
    body = BODY | {"tags": {"project": "apollo"}}
    async with client(gateway, key) as c:
        responses = await asyncio.gather(*(c.post("/v1/ai/completions", json=body) for _ in range(60)))
        elsewhere = await c.post("/v1/ai/completions", json=BODY | {"tags": {"project": "zeus"}})
    ok = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 402]
    assert len(ok) + len(refused) == 60
    assert 5 <= len(ok) <= 13, len(ok)  # ~0.001 USD reserved each: about ten fit
    assert {r.json()["error"]["details"]["scope"] for r in refused} == {"tag:project=apollo"}
    spent = sum(Decimal(r.json()["cost"]["customer_cost"]) for r in ok)
    largest = max(Decimal(r.json()["error"]["details"]["estimated_max_cost"]) for r in refused)
    assert spent <= Decimal("0.01") + largest
    assert elsewhere.status_code == 200
    # The vault (what a Redis that lost its state is re-seeded from) agrees with the clients.
    sql = (
        "select count(*) from raw_vault.sat_cost_event_details c "
        "join raw_vault.lnk_cost_event_api_request l using (cost_event_hk) "
        "join raw_vault.sat_api_request_tags g on g.api_request_hk = l.api_request_hk "
        "where g.tag_key = 'project' and g.tag_value = 'apollo'"
    )
    assert await wait_for_rows(vault_pool, sql, len(ok)) == len(ok)
    assert await vault_pool.fetchval(sql.replace("count(*)", "sum(c.customer_cost)")) == spent


async def test_a_lost_tag_budget_is_reseeded_from_the_vault(
    gateway: Gateway, vault_pool: asyncpg.Pool, redis_client
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer)
    budget = await set_budget(
        vault_pool, customer, scope="tag", value="cost_center=cc-7", period="month", limit="5", changed_by="t"
    )
    body = BODY | {"tags": {"cost_center": "cc-7"}}
    async with client(gateway, key) as c:
        first = [await c.post("/v1/ai/completions", json=body) for _ in range(3)]
        spent = sum(Decimal(r.json()["cost"]["customer_cost"]) for r in first)
        sql = "select count(*) from raw_vault.sat_api_request_tags where tag_value = 'cc-7'"
        assert await wait_for_rows(vault_pool, sql, 3) == 3
        await asyncio.sleep(0.3)  # the cost rows land in the same load
        keys = [k async for k in redis_client.scan_iter(f"ov:budget:b:{budget.budget_id}:*")]
        assert len(keys) == 1
        await redis_client.delete(*keys)  # Redis lost the budget state
        after = await c.post("/v1/ai/completions", json=body)
    assert after.status_code == 200
    total = spent + Decimal(after.json()["cost"]["customer_cost"])
    micro = int(await redis_client.hget(keys[0], "spent"))
    assert abs(Decimal(micro) / 1_000_000 - total) <= Decimal("0.000004")


# 04:48 UTC: a fifth of the day has passed, so a day's spend so far projects five-fold.
MORNING = datetime(2031, 3, 14, 4, 48, tzinfo=timezone.utc)


@pytest.fixture
async def morning_gateway(
    vault_dsn: str,
    vault_pool: asyncpg.Pool,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,
    tmp_path: Path,
    port_picker: Callable[[], int],
) -> AsyncIterator[Gateway]:
    """The gateway with its clock at ``MORNING`` (moving on in real time), as the demo shifts it."""
    key, key_id = await issue_key(vault_pool)
    await forget_shared_state(redis_server)
    began = time.monotonic()
    settings = gateway_settings(tmp_path, prices_file=write_prices(tmp_path))
    config = GatewayConfig(
        settings,
        vault_dsn,
        redis_server.url,
        write_catalog(tmp_path, sim.url),
        clock=lambda: MORNING + timedelta(seconds=time.monotonic() - began),
    )
    server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
    yield Gateway(server.url, key, "acme", key_id, settings, sim)
    await asyncio.to_thread(server.stop)


async def test_soft_budget_alerts_but_serves_and_the_forecast_alerts_before_the_money_is_gone(
    morning_gateway: Gateway, vault_pool: asyncpg.Pool, port_picker: Callable[[], int]
) -> None:
    gw, receiver = morning_gateway, Receiver()
    hook = await asyncio.to_thread(ServerThread(receiver.app, port_picker()).start)  # type: ignore[arg-type]
    customer = f"soft-{uuid.uuid4().hex[:8]}"
    try:
        async with admin(gw) as c:
            made = await c.post(
                "/admin/v1/customers", json={"slug": customer, "budget_webhook_url": f"{hook.url}/hook"}
            )
            assert made.status_code == 201, made.text
            receiver.secret = made.json()["webhook_secret"]
            key = (await c.post(f"/admin/v1/customers/{customer}/keys", json={})).json()["key"]
            soft = await c.put(
                f"/admin/v1/customers/{customer}/budgets",
                json={"scope": "tag", "value": "team=ml", "period": "day", "limit": "0.002", "soft": True},
            )
            assert soft.status_code == 200, soft.text
            assert soft.json()["soft"] is True and soft.json()["changed_by"] == "admin-token:ops-bot"
            # Alert only at 100 %: before that, only the forecast can speak.
            ahead = await c.put(
                f"/admin/v1/customers/{customer}/budgets",
                json={
                    "scope": "end_user",
                    "value": "carol",
                    "period": "day",
                    "limit": "0.006",
                    "alert_thresholds": [100],
                },
            )
            assert ahead.status_code == 200, ahead.text

        async with client(gw, key) as c:
            served = [
                await c.post("/v1/ai/completions", json=BODY | {"tags": {"team": "ml"}}) for _ in range(5)
            ]
            carol = [await c.post("/v1/ai/completions", json=BODY | {"user": "carol"}) for _ in range(2)]
        assert [r.status_code for r in served + carol] == [200] * 7  # the soft budget never refuses
        soft_spent = sum(Decimal(r.json()["cost"]["customer_cost"]) for r in served)
        carol_spent = sum(Decimal(r.json()["cost"]["customer_cost"]) for r in carol)
        assert soft_spent > Decimal("0.002")  # served past its limit
        assert carol_spent * 5 >= Decimal("0.006") > carol_spent  # projected over, not spent

        got = await receiver.wait_for(5)  # 3 thresholds + 2 forecasts
    finally:
        await asyncio.to_thread(hook.stop)
    soft_alerts = sorted(
        (a for a in got if a["scope"] == "tag:team=ml" and a["type"] == "budget.threshold_reached"),
        key=lambda a: a["threshold_pct"],
    )
    assert [a["threshold_pct"] for a in soft_alerts] == [50, 80, 100]
    assert {a["type"] for a in soft_alerts} == {"budget.threshold_reached"}
    assert all(a["soft"] is True and a["budget_id"] == soft.json()["budget_id"] for a in soft_alerts)
    forecasts = [a for a in got if a["type"] == "budget.forecast_exceeded"]
    carol_alerts = [a for a in forecasts if a["scope"] == "end_user:carol"]
    assert {a["scope"] for a in forecasts} == {"tag:team=ml", "end_user:carol"}  # soft ones too
    assert len(carol_alerts) == 1, got
    alert = carol_alerts[0]
    assert alert["period"] == "daily" and alert["period_start"] == "2031-03-14"
    assert Decimal(alert["projected_spend"]) >= Decimal("0.006") > Decimal(alert["spent"])
    runs_out = datetime.fromisoformat(alert["runs_out_at"])
    assert MORNING < runs_out < MORNING.replace(hour=0) + timedelta(days=1)
    assert not [a for a in got if a["scope"] == "end_user:carol" and a["type"] != "budget.forecast_exceeded"]


async def test_budgets_cli_sets_lists_and_removes_with_who_changed_them(
    gateway: Gateway, vault_pool: asyncpg.Pool, cli: CliRunner
) -> None:
    customer = slug()
    key, _ = await issue_key(vault_pool, customer)
    made = await run(
        cli,
        "budgets",
        "set",
        customer,
        "--scope",
        "tag",
        "--value",
        "team=search",
        "--period",
        "day",
        "--limit",
        "0.001",
        "--json",
    )
    assert made.exit_code == 0, made.output
    budget = json.loads(made.output)
    bad = await run(
        cli, "budgets", "set", customer, "--scope", "tag", "--value", "colour=red", "--limit", "1"
    )
    assert bad.exit_code == 1 and "team" in bad.output
    listed = await run(cli, "budgets", "list", customer)
    assert budget["budget_id"] in listed.output and "tag:team=search" in listed.output

    async with client(gateway, key) as c:
        refused = await spend_until_refused(c, BODY | {"tags": {"team": "search"}})
        assert refused[-1].status_code == 402
        removed = await run(cli, "budgets", "remove", customer, budget["budget_id"])
        assert removed.exit_code == 0, removed.output
        # Another process's change reaches this gateway within the definitions' cache TTL.
        deadline = time.monotonic() + 15
        while True:
            again = await c.post("/v1/ai/completions", json=BODY | {"tags": {"team": "search"}})
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    assert again.status_code == 200
    rows = await vault_pool.fetch(
        "select s.is_active, s.changed_by, s.limit_usd from raw_vault.sat_budget_definition s "
        "join raw_vault.hub_budget h using (budget_hk) where h.budget_bk = $1 order by s.load_dts",
        budget["budget_id"],
    )
    assert [r["is_active"] for r in rows] == [True, False]  # removal is a new row, never a delete
    assert all(r["changed_by"].startswith("cli:") for r in rows) and rows[0]["limit_usd"] == Decimal("0.001")
    empty = await run(cli, "budgets", "list", customer)
    assert "has no budgets" in empty.output
