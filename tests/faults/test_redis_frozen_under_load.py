"""Redis frozen (SIGSTOP) for 30 s under load: every request is answered (events go to the local
spool) or refused at once with a clear error — none waits on the frozen server until its client
gives up — and after the thaw every answered request is in the vault exactly once (the spool is
replayed; an event Redis took just before it froze and the spool both hold is loaded once).

A dedicated Redis: the session's is shared by other tests."""

from __future__ import annotations

import asyncio
import time

from tests.faults.conftest import StartGateway
from tests.faults.faultkit import assert_in_vault_exactly_once, issue_key
from tests.faults.freezing import TimedLoad, frozen
from warehouse.embedded import EmbeddedRedis

FROZEN_S = 30
QUICK_S = 10.0  # "quickly": well below the client's 30 s


async def test_thirty_seconds_of_frozen_redis_never_hang_a_request(
    vault_dsn: str, own_redis: EmbeddedRedis, start_gateway: StartGateway
) -> None:
    key = await issue_key(vault_dsn)
    gateway = await start_gateway(vault_dsn, own_redis.endpoint().url)
    pid = own_redis.pid()
    assert pid is not None

    load = TimedLoad(gateway.url, key, clients=4).start()
    await asyncio.sleep(2)
    froze_at = time.monotonic()
    with frozen(pid):
        await asyncio.sleep(FROZEN_S)
    thawed_at = time.monotonic()
    await asyncio.sleep(3)
    await load.stop()

    during = load.between(froze_at, thawed_at)
    assert len(during) > 100, f"the load stalled while Redis was frozen: {len(during)} answers"
    assert load.slowest() < QUICK_S, f"a request took {load.slowest():.1f}s; {load.codes}"
    assert all(status for _, _, status in load.timeline), f"a client gave up: {load.codes}"
    assert sum(status == 200 for _, _, status in during) >= 0.9 * len(during), load.codes
    await assert_in_vault_exactly_once(vault_dsn, load.ok_ids, gateway, own_redis.endpoint().url)
