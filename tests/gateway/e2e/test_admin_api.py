"""The admin API: only the admin token opens it, every call (refused ones too) is recorded,
and what it changes takes effect on the request path."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import asyncpg
import httpx
import pytest

from gateway.crypto.keyring import admin_token
from tests.gateway.e2e.conftest import Gateway, wait_for_rows

ENDPOINTS = [
    ("POST", "/admin/v1/customers", {"slug": "intruder"}),
    ("GET", "/admin/v1/customers/acme", None),
    ("PATCH", "/admin/v1/customers/acme", {"rate_limit_rpm": 1}),
    ("POST", "/admin/v1/customers/acme/keys", {}),
    ("GET", "/admin/v1/customers/acme/keys", None),
    ("POST", "/admin/v1/keys/whatever/revoke", None),
    ("POST", "/admin/v1/keys/whatever/rotate", {}),
    (
        "POST",
        "/admin/v1/customers/acme/provider-keys",
        {"provider": "openai", "api_style": "openai", "secret": "x"},
    ),
    ("GET", "/admin/v1/customers/acme/provider-keys", None),
    ("POST", "/admin/v1/provider-keys/pk_x/revoke", None),
    ("POST", "/admin/v1/provider-keys/pk_x/validate", None),
    ("POST", "/admin/v1/provider-keys/rotate-kek", None),
    ("POST", "/admin/v1/customers/acme/rules", {"name": "x", "target": "openai/gpt-4o"}),
    ("GET", "/admin/v1/customers/acme/rules", None),
    ("PATCH", "/admin/v1/rules/rr_x", {"priority": 1}),
    ("POST", "/admin/v1/rules/rr_x/disable", None),
    ("POST", "/admin/v1/customers/acme/rules/test", {"model": "gpt-4o"}),
    (
        "PUT",
        "/admin/v1/customers/acme/budgets",
        {"scope": "tag", "value": "team=x", "period": "day", "limit": "1"},
    ),
    ("GET", "/admin/v1/customers/acme/budgets", None),
    ("DELETE", "/admin/v1/customers/acme/budgets/bud_x", None),
]


def admin(gw: Gateway, token: str | None = None) -> httpx.AsyncClient:
    token = token or admin_token(gw.settings)
    headers = {"authorization": f"Bearer {token}", "x-onevault-actor": "ops-bot"}
    return httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_customer_keys_and_strangers_are_refused_everywhere(
    gateway: Gateway, vault_pool: asyncpg.Pool, method: str, path: str, body: dict | None
) -> None:
    for token in (gateway.key, "not-the-token"):  # a customer's own key opens nothing here
        async with admin(gateway, token) as c:
            r = await c.request(method, path, json=body)
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_admin_token"
    # Refusals are recorded in batches (gateway.admin.refusals), a fraction of a second later.
    refused = await wait_for_rows(
        vault_pool,
        "select count(*) from raw_vault.sat_admin_action_details "
        "where outcome = 'refused' and status_code = 401",
        2,
    )
    assert refused == 2
    # ... and nothing changed: acme still has exactly its one key, no customer was created.
    assert (
        await vault_pool.fetchval(
            "select count(*) from raw_vault.hub_customer where customer_bk = 'intruder'"
        )
        == 0
    )


async def test_operator_flow_is_applied_and_audited(gateway: Gateway, vault_pool: asyncpg.Pool) -> None:
    async with admin(gateway) as c:
        created = await c.post("/admin/v1/customers", json={"slug": "globex", "budget_daily": "12.50"})
        assert created.status_code == 201, created.text
        assert created.json()["budget_daily"] == "12.50"  # money as a decimal string, never a float
        twice = await c.post("/admin/v1/customers", json={"slug": "globex"})
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "admin_refused"

        patched = await c.patch(
            "/admin/v1/customers/globex", json={"rate_limit_rpm": 100, "markup_pct": "15"}
        )
        assert patched.json()["rate_limit_rpm"] == 100 and patched.json()["markup_pct"] == "15"
        key = (await c.post("/admin/v1/customers/globex/keys", json={"label": "ci"})).json()
        assert key["key"].startswith("ov_")
        listed = (await c.get("/admin/v1/customers/globex/keys")).json()["data"]
        assert [k["key_id"] for k in listed] == [key["key_id"]] and key["key"] not in str(listed)

        added = await c.post(
            "/admin/v1/customers/globex/provider-keys",
            json={"provider": "anthropic", "api_style": "anthropic", "secret": "sk-ant-ADMIN-SECRET-77"},
        )
        assert added.status_code == 201 and "sk-ant-ADMIN-SECRET-77" not in added.text
        pks = (await c.get("/admin/v1/customers/globex/provider-keys")).json()["data"]
        assert pks[0]["fingerprint"] == added.json()["fingerprint"]
        assert (await c.post(f"/admin/v1/provider-keys/{pks[0]['key_id']}/revoke")).status_code == 200

        async with httpx.AsyncClient(
            base_url=gateway.url, headers={"authorization": f"Bearer {key['key']}"}
        ) as u:
            ok = await u.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o-mini"})
            assert ok.status_code == 200 and ok.headers["x-ratelimit-remaining-requests"] == "99"
            assert (await c.post(f"/admin/v1/keys/{key['key_id']}/revoke")).status_code == 200
            deadline = time.monotonic() + 8
            while (await u.post("/v1/ai/completions", json={"prompt": "hi"})).status_code != 401:
                assert time.monotonic() < deadline, "a revoked key kept working"
                await asyncio.sleep(0.25)

    audit = await vault_pool.fetch(
        "select d.action, d.target, d.outcome, d.status_code, d.actor, host(d.source_ip) as ip, d.detail "
        "from raw_vault.sat_admin_action_details d order by d.action_ts"
    )
    actions = [(a["action"], a["outcome"]) for a in audit]
    assert actions[:4] == [
        ("customers.create", "ok"),
        ("customers.create", "refused"),
        ("customers.update", "ok"),
        ("keys.create", "ok"),
    ]
    assert ("keys.revoke", "ok") in actions and ("provider_keys.revoke", "ok") in actions
    assert all(a["actor"] == "admin-token:ops-bot" and a["ip"] == "127.0.0.1" for a in audit)
    assert (
        next(a["detail"] for a in audit if a["action"] == "customers.update") == "markup_pct, rate_limit_rpm"
    )
    linked = await vault_pool.fetchval(
        "select count(*) from raw_vault.lnk_admin_action_customer l join raw_vault.hub_customer c "
        "using (customer_hk) where c.customer_bk = 'globex'"
    )
    assert linked >= 6


async def test_key_expiry_and_allowed_models(gateway: Gateway) -> None:
    soon = (datetime.now(timezone.utc) + timedelta(seconds=2)).isoformat()
    async with admin(gateway) as c:
        key = (
            await c.post(
                "/admin/v1/customers/acme/keys", json={"allowed_models": ["gpt-4o-mini"], "expires_at": soon}
            )
        ).json()["key"]
        past = await c.post("/admin/v1/customers/acme/keys", json={"expires_at": "2020-01-01T00:00:00Z"})
        assert past.status_code == 422 and "future" in past.json()["error"]["message"]
    async with httpx.AsyncClient(base_url=gateway.url, headers={"authorization": f"Bearer {key}"}) as u:
        allowed = await u.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o-mini"})
        other = await u.post("/v1/ai/completions", json={"prompt": "hi", "model": "claude-3-5-haiku-latest"})
        assert allowed.status_code == 200
        assert other.status_code == 403 and other.json()["error"]["code"] == "model_not_allowed"
        await asyncio.sleep(2.5)
        expired = await u.post("/v1/ai/completions", json={"prompt": "hi", "model": "gpt-4o-mini"})
        assert expired.status_code == 401
