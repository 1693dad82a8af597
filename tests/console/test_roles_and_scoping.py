"""Roles and tenant scoping over HTTP: every page opens for every role; change controls are
absent where the role may not use them and the POST handlers refuse them anyway; one
customer's user sees nothing of another's, however the URL is guessed."""

from __future__ import annotations

import pytest

from tests.console.conftest import Console, csrf_of, login

pytestmark = pytest.mark.timeout(180)

PAGES = (
    "/overview",
    "/spend",
    "/spend.csv",
    "/requests",
    "/performance",
    "/keys",
    "/provider-keys",
    "/rules",
    "/budgets",
    "/invoices",
    "/audit-exports",
    "/settings",
)


@pytest.mark.parametrize("email", ["admin@acme.test", "dev@acme.test", "viewer@acme.test"])
async def test_every_page_opens_for_every_customer_role(console: Console, email: str) -> None:
    async with login(console, email) as client:
        for path in PAGES:
            answer = await client.get(path)
            assert answer.status_code == 200, (path, answer.text[:2000])
        assert (await client.get("/operator")).status_code == 403
        users = await client.get("/users")
        assert users.status_code == (200 if email.startswith("admin") else 403)


async def test_the_operator_sees_every_page_and_any_customer(console: Console) -> None:
    async with login(console, "ops@platform.test") as client:
        for path in (*PAGES, "/operator", "/users"):
            assert (await client.get(path)).status_code == 200, path
            assert (await client.get(path, params={"customer": "acme"})).status_code == 200, path
        operator = await client.get("/operator")
        assert "acme" in operator.text and "globex" in operator.text
        assert (await client.get("/keys", params={"customer": "nope"})).status_code == 404


# (page, a form action the page shows to those allowed, a POST that must be refused)
CONTROLS = (
    ("/keys", 'action="/console/keys"', "/keys", {"label": "sneaky"}),
    (
        "/provider-keys",
        'action="/console/provider-keys"',
        "/provider-keys",
        {"provider": "openai", "api_style": "openai", "secret": "sk-x"},
    ),
    ("/rules", 'action="/console/rules"', "/rules", {"name": "sneaky", "target": "openai/gpt-4o"}),
    (
        "/budgets",
        'action="/console/budgets"',
        "/budgets",
        {"scope": "customer", "period": "day", "limit": "0"},
    ),
    (
        "/audit-exports",
        'action="/console/audit-exports"',
        "/audit-exports",
        {"from": "2026-01-01", "to": "2026-02-01"},
    ),
    ("/settings", 'action="/console/settings/data"', "/settings/data", {"cache_mode": "exact"}),
    ("/users", None, "/users", {"email": "new@acme.test", "role": "admin"}),
)


async def test_a_viewer_finds_no_change_control_and_every_change_refused(console: Console) -> None:
    async with login(console, "viewer@acme.test") as client:
        overview = await client.get("/overview")
        token = csrf_of(overview.text)
        for page, control, _, _ in CONTROLS:
            if control is not None:
                html = (await client.get(page)).text
                assert control not in html, page
                assert "Revoke" not in html and "Disable" not in html, page
        keys = await client.get("/keys")
        assert console.key_id in keys.text  # it does see the keys
        for _, _, post, data in CONTROLS:
            answer = await client.post(post, data={**data, "csrf_token": token})
            assert answer.status_code == 403, post
        for post in (f"/keys/{console.key_id}/revoke", f"/keys/{console.key_id}/rotate"):
            assert (await client.post(post, data={"csrf_token": token})).status_code == 403
    rows = await console.pool.fetch(
        "select distinct on (gateway_key_hk) status from raw_vault.sat_gateway_key_details "
        "order by gateway_key_hk, load_dts desc"
    )
    assert {r["status"] for r in rows} == {"active"}  # nothing was revoked or rotated


async def test_a_developer_may_manage_keys_but_not_budgets_or_users(console: Console) -> None:
    async with login(console, "dev@acme.test") as client:
        keys = await client.get("/keys")
        assert 'action="/console/keys"' in keys.text
        budgets = await client.get("/budgets")
        assert 'action="/console/budgets"' not in budgets.text
        token = csrf_of(keys.text)
        refused = await client.post(
            "/budgets", data={"scope": "customer", "period": "day", "limit": "1", "csrf_token": token}
        )
        assert refused.status_code == 403


async def test_another_customers_user_sees_none_of_acmes_data(console: Console) -> None:
    async with login(console, "admin@globex.test") as client:
        keys = await client.get("/keys")
        assert console.key_id not in keys.text and "globex-secret-label" in keys.text
        # the customer in the URL is ignored for customer users
        guessed = await client.get("/keys", params={"customer": "acme"})
        assert console.key_id not in guessed.text
        token = csrf_of(keys.text)
        for post in (f"/keys/{console.key_id}/revoke", f"/keys/{console.key_id}/rotate"):
            answer = await client.post(post, data={"csrf_token": token, "customer": "acme"})
            assert answer.status_code == 404, post
        assert (await client.get("/invoices/view", params={"id": "acme/2026-11"})).status_code == 404
        assert (await client.get("/invoices/download.pdf", params={"id": "acme/2026-11"})).status_code == 404
        assert (await client.get("/requests/req_does_not_exist")).status_code == 404
        users = await client.get("/users")
        assert "admin@acme.test" not in users.text
        answer = await client.post(
            "/users/viewer@acme.test/role", data={"csrf_token": token, "role": "admin", "customer": "acme"}
        )
        assert answer.status_code == 404
