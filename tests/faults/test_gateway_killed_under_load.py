"""The gateway process SIGKILLed under load and started again: every request a client got a
200 for is in the vault, once. The gateway runs as production runs it (``onevault serve``, its
loader in-process); the restarted process's loader claims what the killed one left pending."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.simulator import SimulatorServer
from tests.faults.faultkit import GatewayProcess, Load, env_for, issue_key, wait_for_vault, write_catalog
from warehouse.embedded import RedisEndpoint


@pytest.fixture
def gateway_process(
    tmp_path: Path,
    vault_dsn: str,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,
    port_picker: Callable[[], int],
) -> Iterator[GatewayProcess]:
    env = env_for(
        home=str(tmp_path),
        database_url=vault_dsn,
        redis_url=redis_server.url,
        providers_file=str(write_catalog(tmp_path, sim.url)),
        event_stream=f"faults:{uuid.uuid4().hex}",
        loader_linger_ms="20",
    )
    process = GatewayProcess(env, port_picker(), tmp_path / "gateway.log")
    yield process
    process.kill()


async def test_sigkill_under_load_keeps_every_answered_request(
    vault_dsn: str, gateway_process: GatewayProcess
) -> None:
    key = await issue_key(vault_dsn)
    await asyncio.to_thread(gateway_process.start)
    load = Load(gateway_process.url, key, clients=4, pause_s=0.01).start()
    await asyncio.sleep(3)
    answered_before = len(load.ok_ids)
    await asyncio.to_thread(gateway_process.kill)
    await asyncio.to_thread(gateway_process.start)
    await asyncio.sleep(3)
    await load.stop()

    assert answered_before > 50 and len(load.ok_ids) > answered_before, "load ran on both sides of the kill"
    rows = await wait_for_vault(vault_dsn, load.ok_ids, timeout=45)
    assert load.ok_ids - rows.keys() == set(), "a request answered 200 is missing from the vault"
    assert set(rows.values()) == {1}, "a redelivered event was recorded twice"
