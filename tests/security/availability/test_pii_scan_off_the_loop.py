"""One tenant's prompt cannot stall the worker that serves everyone. The worst case, 2,000,000
characters, is refused at once under redact (more than may be screened); under flag it is
screened up to the cap in the scan pool while another tenant's request is answered.

The gateway runs as its own process (``onevault serve``): a scan stuck in the regex engine holds
the GIL, so an in-process gateway would freeze this test's client along with it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from gateway.simulator import SimulatorServer
from tests.faults.faultkit import GatewayProcess, env_for, issue_key, write_catalog
from tests.gateway.e2e.conftest import wait_for_rows
from tests.security.availability.conftest import complete
from warehouse.embedded import RedisEndpoint

TWO_MILLION = 2_000_000
# What the e-mail pattern used to re-read from every position (quadratic), and what keeps the
# validators busiest (a candidate IP address and phone number every few characters).
WORD_RUN = "a" * TWO_MILLION
DENSE = ("1.1.1.1 call 415-555-2671 " * (TWO_MILLION // 26 + 1))[:TWO_MILLION]
FLAGS_SQL = """
select d.compliance_flags from raw_vault.hub_api_request h
join raw_vault.sat_api_request_details d using (api_request_hk) where h.api_request_bk = $1
"""


@pytest.fixture
async def gateway_process(
    vault_dsn: str,
    redis_server: RedisEndpoint,
    sim: SimulatorServer,
    tmp_path: Path,
    port_picker: Callable[[], int],
) -> AsyncIterator[GatewayProcess]:
    env = env_for(
        home=str(tmp_path),
        database_url=vault_dsn,
        redis_url=redis_server.url,
        providers_file=str(write_catalog(tmp_path, sim.url)),
        event_stream=f"availability:{uuid.uuid4().hex}",
        egress_allow="127.0.0.1",
    )
    gateway = GatewayProcess(env, port_picker(), tmp_path / "gateway.log")
    try:
        yield await asyncio.to_thread(gateway.start)
    finally:
        gateway.kill()


async def test_worst_case_prompts_neither_stall_the_worker_nor_pass_unscreened(
    gateway_process: GatewayProcess, vault_dsn: str, vault_pool: asyncpg.Pool
) -> None:
    url = gateway_process.url
    strict = await issue_key(vault_dsn, "acme", pii_mode="redact")
    heavy = await issue_key(vault_dsn, "initech", pii_mode="flag")
    other = await issue_key(vault_dsn, "globex", pii_mode="redact")

    started = time.perf_counter()
    refused = await complete(url, strict, timeout=20, prompt=WORD_RUN)
    assert time.perf_counter() - started < 5
    assert refused.status_code == 413, refused.text
    error = refused.json()["error"]
    assert error["code"] == "pii_scan_limit"
    assert error["details"] == {"characters": TWO_MILLION, "limit": 100_000}  # the default cap

    big_started = time.perf_counter()
    big = asyncio.create_task(complete(url, heavy, timeout=90, prompt=DENSE))
    await asyncio.sleep(0.3)  # its screening is under way: seconds of work, off the event loop
    started = time.perf_counter()
    small = await complete(url, other, timeout=10, prompt="Mail bob@corp.io the summary")
    small_s = time.perf_counter() - started
    assert small.status_code == 200, small.text
    answered = await asyncio.wait_for(big, 90)
    big_s = time.perf_counter() - big_started
    assert answered.status_code == 200, answered.text
    # Answered meanwhile, not after: on the event loop, the scan would have made it wait.
    assert small_s < min(3.0, big_s / 2), (small_s, big_s)
    # Flag mode: what was screened is flagged, and the record says the rest was not screened.
    rid = answered.json()["id"]
    found = f"select count(*) from raw_vault.hub_api_request where api_request_bk = '{rid}'"
    assert await wait_for_rows(vault_pool, found, 1) == 1
    assert await vault_pool.fetchval(FLAGS_SQL, rid) == ["pii:ip", "pii:phone", "pii:unscanned"]
