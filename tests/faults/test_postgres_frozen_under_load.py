"""PostgreSQL frozen (SIGSTOP on the postmaster and every backend) for 30 s under load: the
gateway keeps answering from cached control-plane state and the event stream, no request waits
on the frozen server until its client gives up, and after the thaw every answered request is in
the vault exactly once. A dedicated server: the session's is shared by other tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.conftest import StartGateway
from tests.faults.faultkit import issue_key, loader_report, wait_for_vault
from tests.faults.freezing import TimedLoad, frozen
from warehouse.db import connect
from warehouse.embedded import EmbeddedPostgres, RedisEndpoint
from warehouse.migrations import migrate

FROZEN_S = 30
QUICK_S = 10.0  # "quickly": well below the client's 30 s


async def test_thirty_seconds_of_frozen_postgres_never_hang_a_request(
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
        answered = load.ok_ids
        rows = await wait_for_vault(dsn, answered, timeout=60)
        missing = answered - rows.keys()
        assert not missing, (
            f"{len(missing)} of {len(answered)} answered requests missing from the vault; "
            f"{await loader_report(gateway, redis_server.url)}"
        )
        assert rows.keys() - answered == set(), "the vault holds requests nobody was answered for"
        assert set(rows.values()) == {1}, "a request was recorded twice"
    finally:
        await asyncio.to_thread(pg.stop)
