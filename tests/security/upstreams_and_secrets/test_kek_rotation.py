"""KEK rotation re-wraps every wrapped secret — provider keys, webhook secrets, customer data keys —
so that once the old KEK is removed, encrypted-retention requests are still sealed and webhook
secrets still decrypt; and a payload that cannot be sealed never loses (or 500s) the request:
it is recorded with its digests only, flagged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx

from gateway.admin.kek_rotation import rotate_kek
from gateway.admin.provider_keys import add_provider_key
from gateway.alerts.webhook_secrets import create_webhook_secret, webhook_secret
from gateway.control_plane.provider_keys import active_provider_keys
from gateway.crypto import KeyRing
from gateway.crypto.data_keys import DataKeys
from gateway.crypto.envelope import new_master_key
from gateway.privacy.payloads import read_payload
from tests.gateway.e2e.conftest import issue_key
from tests.security.conftest import StartGateway
from warehouse.hashing import hash_key

PAYLOAD = "select * from raw_vault.sat_api_request_payload where api_request_hk = $1"


async def ask(url: str, key: str, prompt: str, model: str = "gpt-4o-mini") -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
        return await c.post("/v1/ai/completions", json={"prompt": prompt, "model": model})


async def payload_of(pool: asyncpg.Pool, request_id: str) -> asyncpg.Record:
    """The request's payload row, once the (asynchronous) loader has written it."""
    for _ in range(400):
        row = await pool.fetchrow(PAYLOAD, hash_key(request_id))
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"{request_id} was not recorded")


async def test_rotation_rewraps_everything_and_the_old_kek_can_go(
    start_gateway: StartGateway, vault_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    old, new = new_master_key(), new_master_key()
    key, _ = await issue_key(vault_pool, retention_mode="encrypted")
    secret = (await create_webhook_secret(vault_pool, KeyRing(old), "acme", changed_by="t"))["webhook_secret"]
    await add_provider_key(
        vault_pool, KeyRing(old), "acme", "anthropic", "sk-ant-own", api_style="anthropic", changed_by="t"
    )
    before = await start_gateway(tmp_path / "old", master_key=old)
    first = await ask(before.url, key, "sealed under the old KEK")
    assert first.status_code == 200, first.text  # makes acme's data key, wrapped by the old KEK

    done = await rotate_kek(vault_pool, KeyRing(f"{new},{old}"), changed_by="t")
    assert (done["provider_keys"], done["webhook_secrets"], done["data_keys"], done["unreadable"]) == (
        1,
        1,
        1,
        0,
    )
    assert (await rotate_kek(vault_pool, KeyRing(f"{new},{old}"), changed_by="t"))["rewrapped"] == 0

    only_new = KeyRing(new)  # the old KEK is removed from ONEVAULT_MASTER_KEY
    after = await start_gateway(tmp_path / "new", master_key=new)
    second = await ask(after.url, key, "sealed under the new KEK")
    own_key = await ask(after.url, key, "on the customer's own key", model="claude-3-5-haiku-latest")
    assert second.status_code == 200 and own_key.status_code == 200, (second.text, own_key.text)
    row = await payload_of(vault_pool, second.json()["id"])
    assert row["retention_mode"] == "encrypted" and row["seal_error"] is None
    keys = DataKeys(vault_pool, only_new, ttl=0)
    for request_id, prompt in (
        (first.json()["id"], "sealed under the old KEK"),
        (second.json()["id"], "sealed under the new KEK"),
    ):
        await payload_of(vault_pool, request_id)
        stored = await read_payload(vault_pool, keys, "acme", request_id)
        assert stored.messages[0].content == prompt
    assert await webhook_secret(vault_pool, only_new, "acme") == secret  # deliveries still sign
    assert (await active_provider_keys(vault_pool, only_new, "acme"))["anthropic"].secret == "sk-ant-own"


async def test_a_payload_that_cannot_be_sealed_still_records_the_request(
    start_gateway: StartGateway, vault_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    old, new = new_master_key(), new_master_key()
    key, _ = await issue_key(vault_pool, retention_mode="encrypted")
    before = await start_gateway(tmp_path / "old", master_key=old)
    assert (await ask(before.url, key, "makes the data key")).status_code == 200
    # The old KEK removed without a rotation: the customer's data key cannot be unwrapped.
    after = await start_gateway(tmp_path / "new", master_key=new)
    answered = await ask(after.url, key, "the provider is paid for this one")
    assert answered.status_code == 200, answered.text  # not a 500 after the provider was paid
    row = await payload_of(vault_pool, answered.json()["id"])
    assert row["retention_mode"] == "hash" and row["seal_error"] == "KeyRingError"  # flagged
    assert row["prompt_ciphertext"] is None and len(row["prompt_sha256"]) == 32
    cost = await vault_pool.fetchval(
        "select count(*) from raw_vault.lnk_cost_event_api_request where api_request_hk = $1",
        hash_key(answered.json()["id"]),
    )
    assert cost == 1  # recorded and billed like any request
