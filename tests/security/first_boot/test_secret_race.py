"""Many processes on a fresh ONEVAULT_HOME create the same secrets at once (``onevault serve
--workers N``, the compose services sharing a volume): every one ends with the same, non-empty
value — the one on disk. Before the fix each racer generated and kept its own master key and admin
token (provider keys sealed by a loser become undecryptable), or read a half-written, empty file.

Generation is slowed (and, for the gateway processes, held until every racer has asked) so the race
is at its worst every time instead of once in a while; the code under test is unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from gateway.admin.customers import CustomerConfig, create_customer
from gateway.crypto.envelope import KeyRing
from tests.faults.faultkit import GatewayProcess, env_for, write_catalog
from warehouse.embedded import EmbeddedRedis, RedisEndpoint
from warehouse.settings import Settings

RACERS = 8
GATEWAYS = 2
RACE_HOOK = Path(__file__).with_name("secret_race")  # sitecustomize: holds generation until all ask


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _slowly(fn: Callable[..., str]) -> Callable[..., str]:
    def slow(*args: object, **kwargs: object) -> str:
        time.sleep(0.2)  # every racer is past "the file is not there" before anyone writes
        return fn(*args, **kwargs)

    return slow


def _ask_for_every_secret(home: str, barrier: object, results: object) -> None:
    """One racer (a forked process): the entry points the gateway, CLI and servers call."""
    try:
        import secrets

        from gateway.crypto import keyring
        from warehouse.audit import signing

        keyring.new_master_key = _slowly(keyring.new_master_key)
        secrets.token_urlsafe = _slowly(secrets.token_urlsafe)
        signing._new_pem = _slowly(signing._new_pem)
        settings = Settings(home=home, master_key=None, admin_token=None, audit_signing_key=None)
        barrier.wait(timeout=60)  # type: ignore[attr-defined]
        got = {
            "master-key": keyring.keyring_from(settings).current_id,
            "admin-token": _digest(keyring.admin_token(settings)),
            "audit-signing-key.pem": signing.SigningKey.from_settings(settings).key_id,
            "redis-password": _digest(EmbeddedRedis(Path(home)).password()),
        }
        results.put(got)  # type: ignore[attr-defined]
    except BaseException as exc:  # reported, not lost in the child
        results.put({"error": repr(exc)})  # type: ignore[attr-defined]


def _on_disk(home: Path) -> dict[str, str]:
    from warehouse.audit.signing import _private_from_text, key_id

    secrets_dir = home / "secrets"
    return {
        "master-key": KeyRing((secrets_dir / "master-key").read_text()).current_id,
        "admin-token": _digest((secrets_dir / "admin-token").read_text().strip()),
        "audit-signing-key.pem": key_id(
            _private_from_text((secrets_dir / "audit-signing-key.pem").read_text()).public_key()
        ),
        "redis-password": _digest((secrets_dir / "redis-password").read_text().strip()),
    }


def test_racing_processes_all_get_the_one_secret_on_disk(tmp_path: Path) -> None:
    home = tmp_path / "home"
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(RACERS), context.Queue()
    racers = [
        context.Process(target=_ask_for_every_secret, args=(str(home), barrier, results))
        for _ in range(RACERS)
    ]
    for racer in racers:
        racer.start()
    try:
        answers = [results.get(timeout=60) for _ in racers]
    except queue.Empty:
        pytest.fail("a racer never answered")
    finally:
        for racer in racers:
            racer.join(timeout=10)
            if racer.is_alive():
                racer.kill()

    assert [a for a in answers if "error" in a] == []
    disk = _on_disk(home)
    for name, value in disk.items():
        seen = {a[name] for a in answers}
        assert seen == {value}, f"{name}: {len(seen)} different values among {RACERS} racers"
    assert (home / "secrets").stat().st_mode & 0o077 == 0
    for name in disk:
        assert (home / "secrets" / name).stat().st_mode & 0o077 == 0, name
    assert not [p.name for p in (home / "secrets").iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def racing_gateways(
    tmp_path: Path, vault_dsn: str, redis_server: RedisEndpoint, port_picker: Callable[[], int]
) -> Iterator[list[GatewayProcess]]:
    home, checkins = tmp_path / "home", tmp_path / "checkins"
    checkins.mkdir()
    env = env_for(
        home=str(home),
        database_url=vault_dsn,
        redis_url=redis_server.url,
        providers_file=str(write_catalog(tmp_path, "http://127.0.0.1:9")),
        event_stream=f"first-boot:{uuid.uuid4().hex}",
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(RACE_HOOK), env.get("PYTHONPATH")]))
    env["OV_SECRET_RACE"] = f"{checkins}:{GATEWAYS}:master-key"
    gateways = [GatewayProcess(env, port_picker(), tmp_path / f"gateway-{i}.log") for i in range(GATEWAYS)]
    yield gateways
    for gateway in gateways:
        gateway.kill()


async def test_gateways_starting_at_once_on_a_fresh_home_share_one_master_key_and_admin_token(
    racing_gateways: list[GatewayProcess], vault_dsn: str, tmp_path: Path
) -> None:
    await asyncio.gather(*(asyncio.to_thread(g.start, 90.0) for g in racing_gateways))
    pool = await asyncpg.create_pool(vault_dsn, min_size=1, max_size=1)
    try:
        await create_customer(pool, "acme", CustomerConfig(display_name="Acme"), changed_by="t")
    finally:
        await pool.close()

    secrets_dir = tmp_path / "home" / "secrets"
    token = (secrets_dir / "admin-token").read_text().strip()
    kek_on_disk = KeyRing((secrets_dir / "master-key").read_text()).current_id
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        for i, gateway in enumerate(racing_gateways):
            r = await client.post(
                f"{gateway.url}/admin/v1/customers/acme/provider-keys",
                json={"provider": "openai", "api_style": "openai", "secret": f"sk-race-{i}"},
            )
            assert r.status_code == 201, f"gateway {i}: the admin token on disk is refused: {r.text}"
            assert r.json()["kek_id"] == kek_on_disk, f"gateway {i} sealed with a master key not on disk"
