"""PostgreSQL frozen (SIGSTOP on the postmaster and every backend) for 30 s under load: the
gateway keeps answering from cached control-plane state and the event stream, no request waits
on the frozen server until its client gives up, and after the thaw every answered request is in
the vault exactly once. A dedicated server: the session's is shared by other tests."""

from __future__ import annotations

import asyncio
import time

from tests.faults.conftest import StartGateway
from tests.faults.faultkit import assert_in_vault_exactly_once, issue_key
from tests.faults.freezing import TimedLoad, frozen
from warehouse.embedded import EmbeddedPostgres, RedisEndpoint

FROZEN_S = 30
QUICK_S = 10.0  # "quickly": well below the client's 30 s


async def test_thirty_seconds_of_frozen_postgres_never_hang_a_request(
    own_postgres: tuple[EmbeddedPostgres, str], redis_server: RedisEndpoint, start_gateway: StartGateway
) -> None:
    pg, dsn = own_postgres
    key = await issue_key(dsn)
    gateway = await start_gateway(dsn, redis_server.url)
    postmaster = pg._postmaster()
    assert postmaster is not None

    load = TimedLoad(gateway.url, key, clients=4).start()
    await asyncio.sleep(2)
    froze_at = time.monotonic()
    with frozen(postmaster.pid):
        await asyncio.sleep(FROZEN_S)
    thawed_at = time.monotonic()
    await asyncio.sleep(3)
    await load.stop()

    during = load.between(froze_at, thawed_at)
    assert len(during) > 100, f"the load stalled while PostgreSQL was frozen: {len(during)} answers"
    assert load.slowest() < QUICK_S, f"a request took {load.slowest():.1f}s; {load.codes}"
    assert all(status for _, _, status in load.timeline), f"a client gave up: {load.codes}"
    # Cached state answers: the customer was read before the freeze.
    assert sum(status == 200 for _, _, status in during) >= 0.95 * len(during), load.codes
    await assert_in_vault_exactly_once(dsn, load.ok_ids, gateway, redis_server.url)
