"""When Redis errors, limits and budgets cannot be checked: by default the request is refused
with 503 ``limits_unavailable`` instead of being served unlimited and unbudgeted (an attacker
who can make Redis fail must not win free traffic). A customer with no limits or budgets needs
no Redis to be admitted and is still served, and so is one limited only by its tier's default
allowances (a plan's allowance, not a limit anyone set: docs/billing/plans.md); a limit the
customer set itself is not. ``ONEVAULT_FAIL_OPEN=true`` restores failing open."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import asyncpg
import httpx

from tests.gateway.e2e.conftest import issue_key
from tests.security.conftest import StartGateway

BODY = {"prompt": "is anyone counting?", "model": "gpt-4o-mini", "max_tokens": 8}


async def test_admission_fails_closed_when_redis_errors(
    vault_pool: asyncpg.Pool, start_gateway: StartGateway, port_picker: Callable[[], int]
) -> None:
    metered, _ = await issue_key(vault_pool, "metered", rate_limit_rpm=1000)
    budgeted, _ = await issue_key(vault_pool, "budgeted", budget_daily=Decimal("5"))
    free, _ = await issue_key(vault_pool, "free", tier="enterprise")  # no limits at all
    plan, _ = await issue_key(vault_pool, "plan", tier="basic")  # the basic tier's defaults only
    quota, _ = await issue_key(vault_pool, "quota", tier="basic", monthly_token_quota=10_000)
    no_redis = f"redis://127.0.0.1:{port_picker()}/0"  # nothing listens there: every call errors

    closed = await start_gateway(redis_url=no_redis)
    async with httpx.AsyncClient(base_url=closed.url, timeout=30) as c:
        for key in (metered, budgeted, quota):
            r = await c.post("/v1/ai/completions", json=BODY, headers={"authorization": f"Bearer {key}"})
            assert r.status_code == 503, f"served without its limits being checked: {r.status_code}"
            assert r.json()["error"]["code"] == "limits_unavailable" and r.headers["retry-after"]
        r = await c.post("/v1/ai/completions", json=BODY, headers={"authorization": f"Bearer {free}"})
        assert r.status_code == 200, "nothing to check: a customer without limits is still served"
        r = await c.post("/v1/ai/completions", json=BODY, headers={"authorization": f"Bearer {plan}"})
        assert r.status_code == 200, "the tier's allowance is served while Redis cannot count it"

    opened = await start_gateway(redis_url=no_redis, fail_open=True)
    async with httpx.AsyncClient(base_url=opened.url, timeout=30) as c:
        r = await c.post("/v1/ai/completions", json=BODY, headers={"authorization": f"Bearer {metered}"})
        assert r.status_code == 200, "ONEVAULT_FAIL_OPEN=true admits without enforcement"
