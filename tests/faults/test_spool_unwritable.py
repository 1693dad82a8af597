"""Redis away and the spool unable to take events (disk full, read-only ``ONEVAULT_HOME``): a
request is refused with a clear 503 rather than answered without a record, and ``/ready`` says
why. Root ignores permissions, so the faults are real kernel errors instead: a running gateway
process whose file-size limit (``RLIMIT_FSIZE``, set from outside with prlimit) drops to 0 —
every write that would grow a file fails, as when its disk fills — and a home whose ``spool``
directory's place is taken by a file.
"""

from __future__ import annotations

import asyncio
import resource
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from gateway.crypto.keyring import admin_token
from gateway.simulator import SimulatorServer
from tests.faults.conftest import StartGateway
from tests.faults.faultkit import GatewayProcess, env_for, fault_settings, issue_key, write_catalog
from warehouse.settings import Settings

BODY = {"prompt": "record me", "model": "gpt-4o-mini", "max_tokens": 8}


async def assert_refused_and_not_ready(url: str, key: str, reason: str, home: Path) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        r = await c.post("/v1/ai/completions", json=BODY, headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "recording_unavailable" and "could not be recorded" in error["message"]
        assert r.headers["retry-after"]
        operator = {"authorization": f"Bearer {admin_token(Settings(home=home))}"}  # the details
        ready = await c.get("/ready", headers=operator)
    assert ready.status_code == 503, ready.text
    body = ready.json()
    assert body["status"] == "unavailable" and not body["redis"]["ok"]
    assert not body["spool"]["ok"] and reason in body["spool"]["error"]


async def test_disk_full_spool(
    vault_dsn: str, tmp_path: Path, sim: SimulatorServer, port_picker: Callable[[], int]
) -> None:
    key = await issue_key(vault_dsn)
    env = env_for(
        home=str(tmp_path),
        database_url=vault_dsn,
        redis_url=f"redis://127.0.0.1:{port_picker()}/0",  # nothing listens there
        providers_file=str(write_catalog(tmp_path, sim.url)),
        event_stream=f"faults:{uuid.uuid4().hex}",
    )
    gateway = GatewayProcess(env, port_picker(), tmp_path / "gateway.log")
    try:
        await asyncio.to_thread(gateway.start)
        assert gateway.proc is not None
        # The disk fills up: no file of the gateway's may grow any more (Python ignores SIGXFSZ,
        # so a write fails with EFBIG instead of killing the process).
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.prlimit(gateway.proc.pid, resource.RLIMIT_FSIZE, (0, hard))
        await assert_refused_and_not_ready(gateway.url, key, "File too large", tmp_path)
    finally:
        gateway.kill()


async def test_read_only_home_spool(
    vault_dsn: str, tmp_path: Path, start_gateway: StartGateway, port_picker: Callable[[], int]
) -> None:
    key = await issue_key(vault_dsn)
    (tmp_path / "spool").write_text("a file where the spool directory should be")
    no_redis = f"redis://127.0.0.1:{port_picker()}/0"
    gateway = await start_gateway(vault_dsn, no_redis, settings=fault_settings(tmp_path))
    await assert_refused_and_not_ready(gateway.url, key, "cannot create spool directory", tmp_path)
