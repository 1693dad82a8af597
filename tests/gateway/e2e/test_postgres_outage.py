"""PostgreSQL down does not stop traffic or lose a request: events wait in the Redis stream
and land exactly once when it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from gateway.app import GatewayConfig, create_app
from gateway.crypto.keyring import admin_token
from gateway.simulator import SimulatorServer
from tests.gateway.e2e.conftest import (
    REAL_REQUESTS,
    ServerThread,
    gateway_settings,
    issue_key,
    wait_for_rows,
    write_catalog,
)
from warehouse.db import connect, create_pool
from warehouse.embedded import EmbeddedPostgres, RedisEndpoint
from warehouse.migrations import migrate

REQUESTS = 200


async def test_requests_during_an_outage_all_land_once(
    tmp_path: Path, redis_server: RedisEndpoint, sim: SimulatorServer, port_picker: Callable[[], int]
) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", port=port_picker())
    endpoint = await asyncio.to_thread(pg.ensure_running)
    dsn = endpoint.dsn()
    conn = await connect(dsn)
    await migrate(conn)
    await conn.close()
    pool = await create_pool(dsn, min_size=1, max_size=2)
    key, _ = await issue_key(pool)
    await pool.close()

    config = GatewayConfig(
        gateway_settings(tmp_path), dsn, redis_server.url, write_catalog(tmp_path, sim.url)
    )
    server = await asyncio.to_thread(ServerThread(create_app(config), port_picker()).start)
    try:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"authorization": f"Bearer {key}"}, timeout=30
        ) as c:
            warm = await c.post("/v1/ai/completions", json={"prompt": "before", "model": "gpt-4o-mini"})
            assert warm.status_code == 200

            await asyncio.to_thread(pg.stop)
            sem = asyncio.Semaphore(20)

            async def one(i: int) -> httpx.Response:
                async with sem:
                    return await c.post(
                        "/v1/ai/completions", json={"prompt": f"during {i}", "model": "gpt-4o"}
                    )

            responses = await asyncio.gather(*(one(i) for i in range(REQUESTS)))
            assert [r.status_code for r in responses] == [200] * REQUESTS
            operator = {"authorization": f"Bearer {admin_token(config.settings)}"}  # the details
            ready = (await c.get("/ready", headers=operator)).json()
            assert ready["status"] == "degraded" and not ready["postgres"]["ok"]
            answered = {r.json()["id"] for r in responses} | {warm.json()["id"]}

            await asyncio.to_thread(pg.ensure_running)
            check = await create_pool(dsn, min_size=1, max_size=2)
            try:
                assert await wait_for_rows(check, REAL_REQUESTS, REQUESTS + 1, timeout=60) == REQUESTS + 1
                rows = await check.fetch(
                    "select h.api_request_bk, count(*) as n from raw_vault.hub_api_request h "
                    "join raw_vault.sat_api_request_details d using (api_request_hk) group by 1"
                )
                assert {r["api_request_bk"] for r in rows} == answered
                assert all(r["n"] == 1 for r in rows)
                costs = await check.fetchval("select count(*) from raw_vault.sat_cost_event_details")
                assert costs == REQUESTS + 1
            finally:
                await check.close()
    finally:
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(pg.stop)
