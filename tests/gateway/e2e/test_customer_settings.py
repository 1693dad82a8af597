"""Every customer setting the billing run and the gateway read can be set from the CLI and the
admin API, each is checked before a row is written, and hostile strings never reach the vault."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from gateway.crypto.keyring import admin_token
from tests.gateway.e2e.conftest import Gateway, run, wait_for_rows

CONFIG_ROWS = "select count(*) from raw_vault.sat_customer_config"


def admin(gw: Gateway) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {admin_token(gw.settings)}", "x-onevault-actor": "ops-bot"}
    return httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=30)


async def test_billing_settings_from_the_cli(
    gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool
) -> None:
    done = await run(
        cli,
        *("customers", "update", "acme", "--tier", "premium", "--services", "analytics,smart_routing"),
        *(
            "--tax-rate",
            "8.25",
            "--currency",
            "EUR",
            "--webhook-url",
            "https://hooks.example.com/ov",
            "--json",
        ),
    )
    assert done.exit_code == 0, done.output
    config = json.loads(done.output)
    assert config["tier"] == "premium" and config["subscribed_services"] == ["analytics", "smart_routing"]
    assert (config["tax_rate_pct"], config["currency"]) == ("8.25", "EUR")
    row = await vault_pool.fetchrow(
        "select tier, subscribed_services, tax_rate_pct, currency, budget_webhook_url, changed_by "
        "from raw_vault.sat_customer_config order by load_dts desc limit 1"
    )
    assert (
        row["subscribed_services"] == ["analytics", "smart_routing"] and str(row["tax_rate_pct"]) == "8.2500"
    )
    assert row["budget_webhook_url"] == "https://hooks.example.com/ov" and row["changed_by"]

    made = await run(
        cli, "customers", "create", "globex", "--tier", "enterprise", "--services", "priority_support"
    )
    assert made.exit_code == 0, made.output
    shown = json.loads((await run(cli, "customers", "show", "globex", "--json")).output)
    assert shown["tier"] == "enterprise" and shown["subscribed_services"] == ["priority_support"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--tier", "gold"), "tier must be one of"),
        (("--services", "analytics,coffee"), "unknown service(s) coffee"),
        (("--tax-rate", "120"), "tax_rate_pct"),
        (("--currency", "dollars"), "ISO 4217"),
        (("--webhook-url", "ftp://x"), "http(s)"),
        (("--webhook-url", "https://user:pw@hooks.example.com"), "credentials"),
    ],
)
async def test_refused_settings_say_why_and_write_nothing(
    gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool, args: tuple[str, ...], reason: str
) -> None:
    before = await vault_pool.fetchval(CONFIG_ROWS)
    done = await run(cli, "customers", "update", "acme", *args)
    assert done.exit_code == 1 and reason in done.output, done.output
    assert await vault_pool.fetchval(CONFIG_ROWS) == before


@pytest.mark.parametrize(
    "body",
    [
        {"tier": "gold"},
        {"subscribed_services": ["coffee"]},
        {"tax_rate_pct": "100"},
        {"currency": "usd"},
        {"markup_pct": "1e30"},
        {"budget_daily": "0.001"},
        {"rate_limit_rpm": 2**40},
        {"display_name": "evil\u0000name"},
        {"budget_webhook_url": "https://x.example/\u0007"},
    ],
)
async def test_admin_api_refuses_bad_settings_with_422(
    gateway: Gateway, vault_pool: asyncpg.Pool, body: dict
) -> None:
    before = await vault_pool.fetchval(CONFIG_ROWS)
    async with admin(gateway) as c:
        r = await c.patch("/admin/v1/customers/acme", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"]
    assert await vault_pool.fetchval(CONFIG_ROWS) == before


async def test_admin_api_sets_services_and_strings_with_control_characters_are_refused(
    gateway: Gateway,
) -> None:
    async with admin(gateway) as c:
        ok = await c.patch("/admin/v1/customers/acme", json={"subscribed_services": ["compliance_reporting"]})
        assert ok.status_code == 200, ok.text
        assert ok.json()["subscribed_services"] == ["compliance_reporting"]
        for path, body in (
            ("/admin/v1/customers", {"slug": "new-co", "display_name": "a\nb"}),
            ("/admin/v1/customers/acme/keys", {"label": "x\u0000"}),
            ("/admin/v1/customers/acme/rules", {"name": "r\u0000", "target": "sim-openai/gpt-4o-mini"}),
        ):
            r = await c.post(path, json=body)
            assert r.status_code == 422, (path, r.text)
            assert "control characters" in r.text


async def test_keys_list_shows_last_use(gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool) -> None:
    listed = json.loads((await run(cli, "keys", "list", "acme", "--json")).output)
    assert listed[0]["last_used_at"] is None
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"authorization": f"Bearer {gateway.key}"}
    ) as c:
        assert (await c.post("/v1/ai/completions", json={"prompt": "hi"})).status_code == 200
    await wait_for_rows(vault_pool, "select count(*) from raw_vault.sat_api_request_details", 1)
    listed = json.loads((await run(cli, "keys", "list", "acme", "--json")).output)
    assert listed[0]["last_used_at"] is not None
    text = (await run(cli, "keys", "list", "acme")).output
    assert "last used 20" in text


async def test_drop_unsupported_params_from_the_cli_and_the_admin_api(
    gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool
) -> None:
    from gateway.pipeline.data_policy import load_policy

    shown = json.loads((await run(cli, "customers", "show", "acme", "--json")).output)
    assert shown["drop_unsupported_params"] is None  # unset: the default, refuse with 400
    done = await run(cli, "customers", "update", "acme", "--drop-unsupported-params", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["drop_unsupported_params"] is True
    assert (await load_policy(vault_pool, "acme")).drop_unsupported_params is True
    async with admin(gateway) as c:
        bad = await c.patch("/admin/v1/customers/acme", json={"drop_unsupported_params": "sometimes"})
        off = await c.patch("/admin/v1/customers/acme", json={"drop_unsupported_params": False})
        got = await c.get("/admin/v1/customers/acme")
    assert bad.status_code in (400, 422) and "drop_unsupported_params" in bad.text
    assert off.status_code == 200 and off.json()["drop_unsupported_params"] is False
    assert got.json()["drop_unsupported_params"] is False
    assert (await load_policy(vault_pool, "acme")).drop_unsupported_params is False
    back = await run(cli, "customers", "update", "acme", "--refuse-unsupported-params", "--json")
    assert back.exit_code == 0 and json.loads(back.output)["drop_unsupported_params"] is False
