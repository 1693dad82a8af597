"""PostgreSQL stopped for 30 s while clients keep sending requests, then started again: every
request answered 200 is in the vault exactly once, and nothing the gateway did not answer is
invented. (tests/gateway/e2e/test_postgres_outage.py covers a short burst; this is the
sustained version, with a dedicated server since the session's is shared.)"""

from __future__ import annotations

import asyncio

from tests.faults.conftest import StartGateway
from tests.faults.faultkit import Load, assert_in_vault_exactly_once, issue_key
from warehouse.embedded import EmbeddedPostgres, RedisEndpoint

OUTAGE_S = 30


async def test_thirty_seconds_without_postgres_loses_and_duplicates_nothing(
    own_postgres: tuple[EmbeddedPostgres, str], redis_server: RedisEndpoint, start_gateway: StartGateway
) -> None:
    pg, dsn = own_postgres
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
    await assert_in_vault_exactly_once(dsn, load.ok_ids, gateway, redis_server.url)
