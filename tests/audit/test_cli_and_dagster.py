"""``onevault audit export | verify | public-key`` and the Dagster audit-export job, end to end
against the test's vault: the CLI's and the job's exports chain into one another."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from dagster import DagsterInstance
from typer.testing import CliRunner, Result

from dagster_pipelines.audit import audit_export_job, run_config_for, tags_for
from dagster_pipelines.resources import Warehouse
from gateway.cli.main import app
from gateway.crypto.data_keys import DataKeys, erase
from gateway.crypto.keyring import keyring_from
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.embedded import RedisEndpoint
from warehouse.hashing import hash_key
from warehouse.loader import VaultLoader
from warehouse.settings import get_settings

# Dagster reads the manifest in dbt_project/target, which the session parses into: one worker.
pytestmark = pytest.mark.xdist_group("dbt_target")


@pytest.fixture
def cli_env(
    vault_dsn: str, redis_server: RedisEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path / "home"
    monkeypatch.setenv("ONEVAULT_DATABASE_URL", vault_dsn)
    monkeypatch.setenv("ONEVAULT_REDIS_URL", redis_server.url)
    monkeypatch.setenv("ONEVAULT_HOME", str(home))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


async def onevault(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def test_cli_export_verify_and_the_dagster_job_chain(
    seeded: Any, cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    period = ("--from", seeded.period_from.isoformat(), "--to", seeded.period_to.isoformat())
    key = await onevault("audit", "public-key")
    assert key.exit_code == 0 and key.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert (cli_env / "secrets" / "audit-signing-key.pem").stat().st_mode & 0o077 == 0
    pem = tmp_path / "onevault-audit.pem"
    pem.write_text(key.stdout)

    first = await onevault(
        "audit", "export", "--customer", "acme", *period, "--out", str(tmp_path / "e1"), "--json"
    )
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["previous_manifest_sha256"] is None and summary["totals"]["requests"] > 0

    ok = await onevault("audit", "verify", str(tmp_path / "e1"), "--public-key", str(pem))
    assert ok.exit_code == 0, ok.output
    assert "export verified" in ok.stdout and "totals re-derived from the vault match" in ok.stdout

    with (tmp_path / "e1" / "admin_actions.csv").open("ab") as handle:
        handle.write(b"x")
    bad = await onevault("audit", "verify", str(tmp_path / "e1"), "--public-key", str(pem), "--offline")
    assert bad.exit_code == 1
    assert "FAIL  admin_actions.csv: SHA-256 does not match the manifest (file edited)" in bad.stdout

    unknown = await onevault(
        "audit", "export", "--customer", "nobody", *period, "--out", str(tmp_path / "e0")
    )
    assert unknown.exit_code == 1 and "no customer 'nobody'" in unknown.output

    # the Dagster job: the next link of the same chain
    with DagsterInstance.ephemeral() as instance:
        run = await asyncio.to_thread(
            audit_export_job.execute_in_process,
            run_config=run_config_for(
                "acme",
                seeded.period_from.isoformat(),
                seeded.period_to.isoformat(),
                out_dir=str(tmp_path / "e2"),
            ),
            instance=instance,
            resources={"warehouse": Warehouse()},
            tags=tags_for("acme"),
        )
    assert run.success
    second = json.loads((tmp_path / "e2" / "manifest.json").read_text())
    assert second["previous_manifest_sha256"] == summary["manifest_sha256"]
    assert second["created_by"].startswith("dagster:")
    chained = await onevault(
        "audit", "verify", str(tmp_path / "e2"), "--public-key", str(pem), "--previous", str(tmp_path / "e1")
    )
    assert chained.exit_code == 0, chained.output
    assert "chain links to e1/manifest.json" in chained.stdout

    # an auditor's machine: no warehouse, no OneVault home — only the export and the public key
    monkeypatch.delenv("ONEVAULT_DATABASE_URL")
    monkeypatch.setenv("ONEVAULT_HOME", str(tmp_path / "auditor"))
    get_settings.cache_clear()
    auditor = await onevault("audit", "verify", str(tmp_path / "e2"), "--public-key", str(pem))
    assert auditor.exit_code == 0, auditor.output
    assert "checked offline only" in auditor.stdout
    assert not (tmp_path / "auditor").exists()  # nothing created: no server, no key


async def test_payloads_only_on_request_and_their_texts_only_while_the_key_lives(
    seeded: Any, cli_env: Path, vault_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    keys = DataKeys(vault_pool, keyring_from(get_settings()))  # the CLI's key ring (same home)
    key = await keys.current("acme")
    request_id = await vault_pool.fetchval(
        "select h.api_request_bk from raw_vault.lnk_api_request_context l "
        "join raw_vault.hub_api_request h using (api_request_hk) "
        "join raw_vault.hub_customer c using (customer_hk) where c.customer_bk = 'acme' limit 1"
    )
    prompt, completion = '[["user", "hello auditor"]]', "hello"
    batch = VaultBatch()
    batch.sat(
        t.SAT_API_REQUEST_PAYLOAD,
        hash_key(request_id),
        (
            "encrypted",
            hashlib.sha256(prompt.encode()).digest(),
            hashlib.sha256(completion.encode()).digest(),
            key.key_id,
            *key.seal(prompt, f"{request_id}:prompt"),
            *key.seal(completion, f"{request_id}:completion"),
            None,  # seal_error: it was sealed
        ),
        record_source="gateway",
    )
    await VaultLoader(vault_pool).load(batch)
    period = (
        "--customer",
        "acme",
        "--from",
        seeded.period_from.isoformat(),
        "--to",
        seeded.period_to.isoformat(),
    )

    plain = await onevault("audit", "export", *period, "--out", str(tmp_path / "plain"))
    assert plain.exit_code == 0, plain.output
    assert not (tmp_path / "plain" / "payloads.jsonl").exists()

    asked = await onevault("audit", "export", *period, "--out", str(tmp_path / "asked"), "--include-payloads")
    assert asked.exit_code == 0, asked.output
    (row,) = [json.loads(line) for line in (tmp_path / "asked" / "payloads.jsonl").read_text().splitlines()]
    assert (row["request_id"], row["readable"], row["prompt"], row["completion"]) == (
        request_id,
        True,
        prompt,
        completion,
    )
    assert row["prompt_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()

    await erase(vault_pool, "acme")  # crypto-shredding
    after = await onevault("audit", "export", *period, "--out", str(tmp_path / "after"), "--include-payloads")
    assert after.exit_code == 0, after.output
    (row,) = [json.loads(line) for line in (tmp_path / "after" / "payloads.jsonl").read_text().splitlines()]
    assert (row["readable"], row["prompt"], row["prompt_sha256"]) == (
        False,
        None,
        hashlib.sha256(prompt.encode()).hexdigest(),
    )
    ok = await onevault("audit", "verify", str(tmp_path / "after"))
    assert ok.exit_code == 0, ok.output
