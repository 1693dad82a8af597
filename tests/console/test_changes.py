"""The console's change pages over HTTP: each change goes through the admin plane's functions,
lands in the vault with ``changed_by = console:<email>`` and in the admin-action trail."""

from __future__ import annotations

import asyncio
import io
import zipfile

import httpx
import pytest

from gateway.admin.console_users import get_user
from gateway.admin.customers import current_config
from gateway.routing.rules import customer_rules
from tests.console.conftest import Console, csrf_of, login

pytestmark = pytest.mark.timeout(180)


async def _post(client: httpx.AsyncClient, path: str, data: dict, page: str | None = None) -> httpx.Response:
    token = csrf_of((await client.get(page or path.rsplit("/", 2)[0] or "/overview")).text)
    return await client.post(path, data={**data, "csrf_token": token})


async def test_routing_rules_create_edit_and_dry_run(console: Console) -> None:
    async with login(console, "dev@acme.test") as client:
        made = await _post(
            client,
            "/rules",
            {
                "name": "claude first",
                "priority": "10",
                "conditions": '{"model": "gpt-4o"}',
                "strategy": "target",
                "target": "anthropic/claude-3-5-haiku-latest",
                "fallback": "openai/gpt-4o",
            },
            "/rules",
        )
        assert made.status_code == 200 and "created" in made.text, made.text[-3000:]
        rule = next(
            r
            for r in await customer_rules(console.pool, "acme", active_only=False)
            if r.name == "claude first"
        )
        bad = await _post(client, "/rules", {"name": "broken", "conditions": "{not json"}, "/rules")
        assert bad.status_code == 422 and "must be JSON" in bad.text
        edited = await _post(
            client,
            f"/rules/{rule.rule_id}",
            {
                "name": "claude first",
                "priority": "5",
                "strategy": "target",
                "active": "on",
                "target": "anthropic/claude-3-5-haiku-latest",
            },
            "/rules",
        )
        assert edited.status_code == 200 and "saved" in edited.text
        dry = await _post(client, "/rules-dry-run", {"body": '{"model": "gpt-4o", "messages": []}'}, "/rules")
        assert dry.status_code == 200 and "Rule claude first (target) matches" in dry.text
        assert "anthropic/claude-3-5-haiku-latest" in dry.text
    changed_by = await console.pool.fetchval(
        "select changed_by from raw_vault.sat_routing_rule_definition where name = 'claude first' "
        "order by load_dts desc limit 1"
    )
    assert changed_by == "console:dev@acme.test"
    actions = await console.pool.fetch(
        "select action, outcome from raw_vault.sat_admin_action_details where actor = 'console:dev@acme.test'"
    )
    assert {("rules.create", "ok"), ("rules.create", "refused"), ("rules.update", "ok")} <= {
        (a["action"], a["outcome"]) for a in actions
    }


async def test_provider_keys_show_fingerprints_only(console: Console) -> None:
    secret = "sk-console-test-0123456789abcdef"
    async with login(console, "dev@acme.test") as client:
        added = await _post(
            client,
            "/provider-keys",
            {"provider": "openai", "api_style": "openai", "secret": secret},
            "/provider-keys",
        )
        assert added.status_code == 200 and "fingerprint" in added.text
        assert secret not in added.text
        page = await client.get("/provider-keys")
        assert secret not in page.text and "openai" in page.text
        key_id = page.text.split("/console/provider-keys/", 1)[1].split("/", 1)[0]
        checked = await _post(client, f"/provider-keys/{key_id}/validate", {}, "/provider-keys")
        assert checked.status_code == 200 and f"Provider key {key_id}:" in checked.text, checked.text[-1500:]
        revoked = await _post(client, f"/provider-keys/{key_id}/revoke", {}, "/provider-keys")
        assert revoked.status_code == 200 and "revoked" in revoked.text


async def test_settings_by_role(console: Console) -> None:
    async with login(console, "dev@acme.test") as client:
        saved = await _post(
            client, "/settings/data", {"cache_mode": "exact", "cache_ttl_s": "600"}, "/settings"
        )
        assert saved.status_code == 200 and "Settings saved" in saved.text
        billing = await _post(client, "/settings/billing", {"budget_daily": "50"}, "/settings")
        assert billing.status_code == 403
    async with login(console, "admin@acme.test") as client:
        assert (
            await _post(client, "/settings/billing", {"budget_daily": "50"}, "/settings")
        ).status_code == 200
        assert (await _post(client, "/settings/terms", {"markup_pct": "0"}, "/settings")).status_code == 403
    config = await current_config(console.pool, "acme")
    assert config.cache_mode == "exact" and config.cache_ttl_s == 600 and config.budget_daily == 50


async def test_users_add_change_role_and_disable(console: Console) -> None:
    async with login(console, "admin@acme.test") as client:
        added = await _post(client, "/users", {"email": "new.analyst@acme.test", "role": "viewer"}, "/users")
        assert added.status_code == 200 and 'id="new-password"' in added.text
        role = await _post(client, "/users/new.analyst@acme.test/role", {"role": "developer"}, "/users")
        assert role.status_code == 200
        off = await _post(client, "/users/new.analyst@acme.test/status", {"status": "disabled"}, "/users")
        assert off.status_code == 200
        dup = await _post(client, "/users", {"email": "new.analyst@acme.test", "role": "viewer"}, "/users")
        assert dup.status_code == 409
    user = await get_user(console.pool, "new.analyst@acme.test")
    assert (
        user is not None
        and user.customer == "acme"
        and user.role == "developer"
        and user.status == "disabled"
    )


async def test_operator_creates_and_suspends_a_customer(console: Console) -> None:
    async with login(console, "ops@platform.test") as client:
        made = await _post(
            client, "/operator/customers", {"slug": "initech", "display_name": "Initech"}, "/operator"
        )
        assert made.status_code == 200 and "Customer initech created" in made.text
        suspended = await _post(
            client, "/operator/customers/initech/status", {"status": "suspended"}, "/operator"
        )
        assert suspended.status_code == 200
        keys = await client.get("/keys", params={"customer": "initech"})
        assert keys.status_code == 200 and "Keys of initech" in keys.text
    assert (await current_config(console.pool, "initech")).status == "suspended"
    async with login(console, "admin@acme.test") as client:
        refused = await _post(client, "/operator/customers", {"slug": "evil"}, "/overview")
        assert refused.status_code == 403


async def test_audit_export_start_and_download(console: Console) -> None:
    async with login(console, "admin@acme.test") as client:
        started = await _post(
            client, "/audit-exports", {"from": "2026-01-01", "to": "2026-12-31"}, "/audit-exports"
        )
        assert started.status_code == 200 and "written and signed" in started.text, started.text[-2000:]
        page = await client.get("/audit-exports")
        export_id = page.text.split("/console/audit-exports/", 1)[1].split(".zip", 1)[0]
        bundle = await client.get(f"/audit-exports/{export_id}.zip")
        assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
        assert any(n.startswith("manifest") for n in names), names
    async with login(console, "admin@globex.test") as client:
        assert (await client.get(f"/audit-exports/{export_id}.zip")).status_code == 404


async def test_spend_csv_and_security_headers(console: Console) -> None:
    async with login(console, "viewer@acme.test") as client:
        csv = await client.get("/spend.csv", params={"grain": "month", "by": "model"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert "attachment" in csv.headers["content-disposition"]
        page = await client.get("/overview")
        assert (
            page.headers["x-frame-options"] == "DENY"
            and "frame-ancestors 'none'" in page.headers["content-security-policy"]
        )
        assert page.headers["cache-control"] == "no-store"
        assert float(page.headers["server-timing"].removeprefix("app;dur=")) < 300  # the page's server time


async def test_stored_prompts_show_to_developers_only(console: Console) -> None:
    async with login(console, "dev@acme.test") as client:
        saved = await _post(client, "/settings/data", {"retention_mode": "encrypted"}, "/settings")
        assert saved.status_code == 200
    async with httpx.AsyncClient(base_url=console.url, timeout=30) as api:
        answer = await api.post(
            "/v1/chat/completions",
            headers={"authorization": f"Bearer {console.key}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "the quarterly numbers"}]},
        )
    assert answer.status_code == 200, answer.text
    request_id = answer.headers["x-request-id"]
    for _ in range(200):
        if await console.pool.fetchval(
            "select count(*) from raw_vault.sat_api_request_payload p join raw_vault.hub_api_request h "
            "using (api_request_hk) where h.api_request_bk = $1",
            request_id,
        ):
            break
        await asyncio.sleep(0.1)
    async with login(console, "dev@acme.test") as client:
        shown = await client.get(f"/requests/{request_id}")
        assert shown.status_code == 200 and "the quarterly numbers" in shown.text
    async with login(console, "viewer@acme.test") as client:
        hidden = await client.get(f"/requests/{request_id}")
        assert hidden.status_code == 200 and "the quarterly numbers" not in hidden.text
    async with login(console, "admin@acme.test") as client:
        await _post(client, "/settings/data", {"retention_mode": "none"}, "/settings")
