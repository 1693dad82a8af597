"""PostgreSQL stopped for 30 s while clients keep sending requests, then started again: every
request answered 200 is in the vault exactly once, and nothing the gateway did not answer is
invented. (tests/gateway/e2e/test_postgres_outage.py covers a short burst; this is the
sustained version, with a dedicated server since the session's is shared.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.faults.conftest import StartGateway
from tests.faults.faultkit import Load, issue_key, loader_report, wait_for_vault
from warehouse.db import connect
from warehouse.embedded import EmbeddedPostgres, RedisEndpoint
from warehouse.migrations import migrate

OUTAGE_S = 30


async def test_thirty_seconds_without_postgres_loses_and_duplicates_nothing(
    tmp_path: Path, redis_server: RedisEndpoint, start_gateway: StartGateway, port_picker: Callable[[], int]
) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", port=port_picker())
    dsn = (await asyncio.to_thread(pg.ensure_running)).dsn()
    try:
        conn = await connect(dsn)
        await migrate(conn)
        await conn.close()
        key = await issue_key(dsn)
        gateway = await start_gateway(dsn, redis_server.url)

        load = Load(gateway.url, key, clients=4, pause_s=0.05).start()
        await asyncio.sleep(2)
        await asyncio.to_thread(pg.stop)
        stopped = len(load.timeline)
        await asyncio.sleep(OUTAGE_S)
        during = load.timeline[stopped:]
        await asyncio.to_thread(pg.ensure_running)
        await asyncio.sleep(3)
        await load.stop()

        assert len(during) > 100, "the load did not keep going while PostgreSQL was down"
        assert load.non_200() == 0, load.codes
        answered = load.ok_ids
        rows = await wait_for_vault(dsn, answered, timeout=60)
        missing = answered - rows.keys()
        assert not missing, (
            f"{len(missing)} of {len(answered)} answered requests missing from the vault; "
            f"{await loader_report(gateway, redis_server.url)}"
        )
        assert rows.keys() - answered == set(), "the vault holds requests nobody was answered for"
        assert {n for n in rows.values()} == {1}, "a request was recorded twice"
    finally:
        await asyncio.to_thread(pg.stop)
