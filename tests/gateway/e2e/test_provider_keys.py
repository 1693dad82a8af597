"""Customers' own provider keys: used on the request path, sealed at rest, never in clear."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from gateway.control_plane.provider_keys import active_provider_keys
from gateway.crypto import KeyRing
from gateway.crypto.envelope import KeyRingError, new_master_key
from tests.gateway.e2e.conftest import Gateway, run, wait_for_rows
from warehouse.hashing import hash_key

SECRET = "sk-cust-VERY-SECRET-4242424242"


async def ask(gw: Gateway, model: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gw.url, headers={"authorization": f"Bearer {gw.key}"}) as c:
        return await c.post("/v1/ai/completions", json={"prompt": "hello", "model": model})


async def add_key(cli: CliRunner, provider: str, api_style: str, secret: str) -> dict:
    done = await run(
        cli, "provider-keys", "add", "acme", provider, "--api-style", api_style, "--json", stdin=secret
    )
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


async def test_the_customers_key_is_used_and_recorded(
    gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool
) -> None:
    added = await add_key(cli, "anthropic", "anthropic", SECRET)
    assert added["fingerprint"].startswith("fp_") and SECRET not in json.dumps(added)
    r = await ask(gateway, "claude-3-5-haiku-latest")
    assert r.status_code == 200, r.text
    sql = "select count(*) from raw_vault.sat_api_request_attempt where provider_key_hk = $1"
    pk_hk = hash_key(added["key_id"])
    n = await wait_for_rows(vault_pool, sql.replace("$1", "'\\x" + pk_hk.hex() + "'::bytea"), 1)
    assert n == 1  # the attempt names the customer's key, not the platform's


async def test_a_bad_customer_key_fails_over_to_the_next_provider(gateway: Gateway, cli: CliRunner) -> None:
    await add_key(cli, "openai", "openai", "invalid")  # the simulator refuses this key
    r = await ask(gateway, "gpt-4o-mini")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["provider"] == "azure_openai"
    assert out["attempts"][0]["provider"] == "openai" and out["attempts"][0]["outcome"] == "error"


async def test_the_secret_is_nowhere_in_clear(
    gateway: Gateway,
    cli: CliRunner,
    vault_pool: asyncpg.Pool,
    redis_client: aioredis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("DEBUG"):
        await add_key(cli, "anthropic", "anthropic", SECRET)
        responses = [await ask(gateway, "claude-3-5-haiku-latest") for _ in range(2)]
        listing = (await run(cli, "provider-keys", "list", "acme", "--json")).output
    assert all(r.status_code == 200 for r in responses)
    await wait_for_rows(vault_pool, "select count(*) from raw_vault.sat_cost_event_details", 2)
    # PostgreSQL: every column of every table, as text (bytea shows as hex: check that too).
    tables = await vault_pool.fetch(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema not in ('pg_catalog', 'information_schema')"
    )
    for t in tables:
        hit = await vault_pool.fetchval(
            f'select count(*) from "{t["table_schema"]}"."{t["table_name"]}" x '
            "where x::text like $1 or x::text like $2",
            f"%{SECRET}%",
            f"%{SECRET.encode().hex()}%",
        )
        assert hit == 0, f"{t['table_schema']}.{t['table_name']} holds the secret"
    # Redis: every key and value, whatever its type.
    async for key in redis_client.scan_iter():
        kind = (await redis_client.type(key)).decode()
        if kind == "string":
            blob = await redis_client.get(key)
        elif kind == "stream":
            blob = repr(await redis_client.xrange(key)).encode()
        elif kind == "hash":
            blob = repr(await redis_client.hgetall(key)).encode()
        else:
            blob = b""
        assert SECRET.encode() not in (key + (blob or b"")), key
    # Logs, responses and the CLI's own output.
    assert SECRET not in caplog.text and SECRET not in listing
    assert all(SECRET not in r.text for r in responses)


async def test_kek_rotation_rewraps_every_key(
    gateway: Gateway, cli: CliRunner, vault_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_key(cli, "anthropic", "anthropic", SECRET)
    await add_key(cli, "gemini", "gemini", SECRET + "-g")
    old = (gateway.settings.home / "secrets" / "master-key").read_text().strip()
    new = new_master_key()
    monkeypatch.setenv("ONEVAULT_MASTER_KEY", f"{new},{old}")
    from warehouse.settings import get_settings

    get_settings.cache_clear()
    done = await run(cli, "provider-keys", "rotate-kek", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["rewrapped"] == 2
    keys = await active_provider_keys(vault_pool, KeyRing(new), "acme")
    assert {k.secret for k in keys.values()} == {SECRET, SECRET + "-g"}
    with pytest.raises(KeyRingError):
        await active_provider_keys(vault_pool, KeyRing(old), "acme")
    again = json.loads((await run(cli, "provider-keys", "rotate-kek", "--json")).output)
    assert again["rewrapped"] == 0  # idempotent
    history = await vault_pool.fetchval("select count(*) from raw_vault.sat_provider_key_details")
    assert history == 4  # the old rows stay: which KEK wrapped what, when, is history too
