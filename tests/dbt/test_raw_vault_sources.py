"""The dbt project sees the raw vault as the loader writes it: every source and its tests
(keys unique, not null, 32-byte SHA-256) run with real dbt against a loaded vault database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from warehouse.dbt import dbt_args, dbt_env
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

DBT = str(Path(sys.executable).with_name("dbt"))


def run_dbt(dsn: str, tmp_path: Path, *command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **dbt_env(dsn), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run(
        [DBT, *dbt_args(list(command), tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )


async def test_source_tests_pass_on_a_loaded_vault(
    vault_dsn: str, vault_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await VaultLoader(vault_pool).load(batch_from_events(synthetic_events(200, seed=3)))
    done = run_dbt(vault_dsn, tmp_path, "build", "--select", "source:raw_vault")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "ERROR=0" in done.stdout
    passed = int(done.stdout.rsplit("PASS=", 1)[1].split()[0])
    assert passed >= 150  # every hub, link and satellite is declared and tested


async def test_a_malformed_hash_diff_fails_the_build(
    vault_dsn: str, vault_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await vault_pool.execute(
        "insert into raw_vault.sat_api_request_tags "
        "(api_request_hk, tag_key, load_dts, hash_diff, record_source, tag_value) "
        "values (decode(repeat('ab', 32), 'hex'), 'team', now(), '\\x0102'::bytea, 'test', 'x')"
    )
    done = run_dbt(vault_dsn, tmp_path, "build", "--select", "source:raw_vault.sat_api_request_tags")
    assert done.returncode != 0
    assert "is_sha256" in done.stdout and "FAIL" in done.stdout


def test_dbt_env_reads_socket_and_tcp_urls() -> None:
    socket = dbt_env("postgresql://postgres@/onevault?host=/tmp/pg&port=5433")
    assert (socket["ONEVAULT_DBT_HOST"], socket["ONEVAULT_DBT_PORT"]) == ("/tmp/pg", "5433")
    tcp = dbt_env("postgresql://ov:p%40ss@db.internal:6543/warehouse")
    assert tcp == {
        "ONEVAULT_DBT_HOST": "db.internal",
        "ONEVAULT_DBT_PORT": "6543",
        "ONEVAULT_DBT_USER": "ov",
        "ONEVAULT_DBT_PASSWORD": "p@ss",
        "ONEVAULT_DBT_DBNAME": "warehouse",
    }
