"""A flood of unauthenticated admin calls: every refusal up to the per-address limit is still
recorded, but in batches (a few transactions, not one per call); past the limit the caller gets
429 and only the first refusal over it is recorded; the right token is never throttled."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from gateway.crypto.keyring import admin_token
from tests.gateway.e2e.conftest import Gateway, wait_for_rows
from tests.security.authentication.kit import clear_of_minute_boundary, from_address, new_address

LIMIT = 60  # ONEVAULT_ADMIN_FAILURES_PER_MINUTE's default
FLOOD = LIMIT + 40


async def test_admin_refusals_are_batched_and_throttled_per_address(
    gateway: Gateway, vault_pool: asyncpg.Pool
) -> None:
    attacker = new_address()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as c:

        async def call(token: str) -> httpx.Response:
            return await c.get("/admin/v1/customers/acme", headers=from_address(attacker, token))

        await clear_of_minute_boundary()
        flood = await asyncio.gather(*(call(f"guess-{i}") for i in range(FLOOD)))
        codes = sorted(r.status_code for r in flood)
        assert codes == [401] * LIMIT + [429] * (FLOOD - LIMIT), "refused admin calls are not throttled"
        throttled = next(r for r in flood if r.status_code == 429)
        assert throttled.json()["error"]["code"] == "admin_throttled" and throttled.headers["retry-after"]
        assert (await call(admin_token(gateway.settings))).status_code == 200, "the operator is let in"

    mine = (
        "from raw_vault.sat_admin_action_details "
        f"where source_ip = '{attacker}'::inet and outcome = 'refused'"
    )
    recorded = await wait_for_rows(vault_pool, f"select count(*) {mine}", LIMIT + 1)
    await asyncio.sleep(0.5)  # anything more would have landed by now
    assert await vault_pool.fetchval(f"select count(*) {mine}") == LIMIT + 1 == recorded
    assert await vault_pool.fetchval(f"select count(*) {mine} and status_code = 429") == 1
    transactions = await vault_pool.fetchval(f"select count(distinct load_dts) {mine}")
    assert transactions <= 10, f"{transactions} transactions for {LIMIT + 1} refusals: not batched"
