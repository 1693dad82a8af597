"""Budget alerts at 50/80/100 %: delivered off the request path to a real local receiver that
checks the HMAC signature, retried with backoff after a failure, each threshold once per
period, every attempt in the vault."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import asyncpg
import httpx

from tests.gateway.e2e.conftest import Gateway, ServerThread, wait_for_rows
from tests.gateway.e2e.test_admin_api import admin
from tests.gateway.e2e.webhooks import Receiver


async def test_thresholds_are_signed_retried_once_per_period_and_recorded(
    gateway: Gateway, vault_pool: asyncpg.Pool, port_picker: Callable[[], int]
) -> None:
    receiver = Receiver(fail_first=1)  # the first delivery fails
    server = await asyncio.to_thread(ServerThread(receiver.app, port_picker()).start)  # type: ignore[arg-type]
    slug = f"alerts-{uuid.uuid4().hex[:8]}"  # budget state in the shared Redis is per customer
    try:
        async with admin(gateway) as c:
            made = await c.post(
                "/admin/v1/customers",
                json={"slug": slug, "budget_daily": "0.01", "budget_webhook_url": f"{server.url}/hook"},
            )
            assert made.status_code == 201, made.text
            receiver.secret = made.json()["webhook_secret"]  # shown once, with the first URL
            assert receiver.secret.startswith("whsec_")
            again = await c.get(f"/admin/v1/customers/{slug}")
            assert "webhook_secret" not in again.json()
            key = (await c.post(f"/admin/v1/customers/{slug}/keys", json={})).json()["key"]

        # 450 output tokens of gpt-4o at 10 USD/Mtok + 20 % markup: ~0.0054 USD, 54 % of the budget.
        gateway.sim.simulator.config.output_tokens = 450
        body = {"prompt": "hi", "model": "gpt-4o", "max_tokens": 450}
        async with httpx.AsyncClient(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}) as c:
            first = await c.post("/v1/ai/completions", json=body)
            assert first.status_code == 200, first.text
            refused = [await c.post("/v1/ai/completions", json=body) for _ in range(3)]  # 100 %
            assert [r.status_code for r in refused] == [402, 402, 402]

        for _ in range(150):  # the worker delivers in the background; the retry waits ~2 s
            if len(receiver.accepted) >= 3:
                break
            await asyncio.sleep(0.1)
    finally:
        await asyncio.to_thread(server.stop)
    got = sorted(receiver.accepted, key=lambda a: a["threshold_pct"])
    assert [a["threshold_pct"] for a in got] == [50, 80, 100]  # each once, despite 3 refusals
    assert {a["scope"] for a in got} == {f"customer:{slug}"} and got[0]["period"] == "daily"
    assert got[0]["budget"] == "0.01" and got[0]["type"] == "budget.threshold_reached"
    assert receiver.calls == 4  # one failure + three deliveries

    # the worker records an attempt once the receiver has answered: wait for the last record
    await wait_for_rows(vault_pool, "select count(*) from raw_vault.sat_budget_alert_delivery", 4)
    rows = await vault_pool.fetch(
        "select h.budget_alert_bk, s.attempt_no, s.outcome, s.http_status "
        "from raw_vault.sat_budget_alert_delivery s "
        "join raw_vault.hub_budget_alert h using (budget_alert_hk) "
        "order by s.attempted_ts"
    )
    outcomes = sorted((r["attempt_no"], r["outcome"], r["http_status"]) for r in rows)
    assert outcomes == [
        (1, "delivered", 204),
        (1, "delivered", 204),
        (1, "failed", 500),
        (2, "delivered", 204),
    ]
    linked = await wait_for_rows(
        vault_pool,
        "select count(*) from raw_vault.lnk_budget_alert_customer l join raw_vault.hub_customer c "
        f"using (customer_hk) where c.customer_bk = '{slug}'",
        3,
    )
    assert linked == 3
    assert (
        await vault_pool.fetchval(
            "select count(*) from raw_vault.sat_customer_webhook_secret s where s::text like $1",
            f"%{receiver.secret}%",
        )
        == 0
    )  # sealed, never in clear
