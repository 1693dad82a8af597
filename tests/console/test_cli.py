"""``onevault console ...`` and ``onevault up``'s demo console user."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from gateway.admin.console_users import get_user
from gateway.admin.customers import CustomerConfig, create_customer
from gateway.auth import passwords
from gateway.cli.console import DEMO_EMAIL
from gateway.cli.main import app as cli_app
from gateway.cli.up import bootstrap
from warehouse.embedded import RedisEndpoint
from warehouse.settings import get_settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def cli(
    vault_dsn: str, redis_server: RedisEndpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    monkeypatch.setenv("ONEVAULT_DATABASE_URL", vault_dsn)
    monkeypatch.setenv("ONEVAULT_REDIS_URL", redis_server.url)
    monkeypatch.setenv("ONEVAULT_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def run(cli: CliRunner, *args: str, stdin: str | None = None) -> Result:
    return await asyncio.to_thread(cli.invoke, cli_app, list(args), input=stdin)


async def test_create_user_for_a_customer_and_an_operator(cli: CliRunner, vault_pool: asyncpg.Pool) -> None:
    await create_customer(vault_pool, "acme", CustomerConfig(), changed_by="t")
    made = await run(
        cli,
        "console",
        "create-user",
        "--email",
        "Alice@Acme.test",
        "--role",
        "admin",
        "--customer",
        "acme",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert made.exit_code == 0, made.output
    alice = await get_user(vault_pool, "alice@acme.test")
    assert alice is not None and alice.role == "admin" and alice.customer == "acme" and not alice.is_operator
    assert alice.password_hash and alice.password_hash.startswith("$argon2id$")
    assert passwords.verify(alice.password_hash, "a long enough password")

    ops = await run(
        cli,
        "console",
        "create-user",
        "--email",
        "ops@platform.test",
        "--role",
        "admin",
        "--operator",
        "--json",
    )
    assert ops.exit_code == 0, ops.output
    shown = json.loads(ops.output)
    assert shown["operator"] is True and len(shown["password"]) >= 20  # generated, shown once
    user = await get_user(vault_pool, "ops@platform.test")
    assert user is not None and passwords.verify(user.password_hash, shown["password"])
    # the vault never holds the password itself
    raw = await vault_pool.fetch("select password_hash from raw_vault.sat_console_user_credential")
    assert all(shown["password"] not in (r["password_hash"] or "") for r in raw)
    changed_by = await vault_pool.fetchval(
        "select changed_by from raw_vault.sat_console_user_details where email = 'ops@platform.test'"
    )
    assert changed_by.startswith("cli:")


async def test_create_user_refusals(cli: CliRunner, vault_pool: asyncpg.Pool) -> None:
    both = await run(cli, "console", "create-user", "--email", "x@y.test", "--role", "admin")
    assert both.exit_code == 1 and "exactly one of --customer" in both.output
    unknown = await run(
        cli, "console", "create-user", "--email", "x@y.test", "--role", "admin", "--customer", "nope"
    )
    assert unknown.exit_code == 1 and "no customer" in unknown.output
    weak = await run(
        cli,
        "console",
        "create-user",
        "--email",
        "x@y.test",
        "--role",
        "admin",
        "--operator",
        "--password-stdin",
        stdin="short\n",
    )
    assert weak.exit_code == 1 and "12 to 1024 characters" in weak.output
    role = await run(cli, "console", "create-user", "--email", "x@y.test", "--role", "root", "--operator")
    assert role.exit_code == 1 and "role is one of" in role.output


async def test_set_role_disable_and_enable(cli: CliRunner, vault_pool: asyncpg.Pool) -> None:
    await run(cli, "console", "create-user", "--email", "v@ops.test", "--role", "viewer", "--operator")
    assert (await run(cli, "console", "set-role", "v@ops.test", "developer")).exit_code == 0
    assert (await run(cli, "console", "disable", "v@ops.test")).exit_code == 0
    user = await get_user(vault_pool, "v@ops.test")
    assert user is not None and user.role == "developer" and user.status == "disabled"
    rows = await vault_pool.fetchval(
        "select count(*) from raw_vault.sat_console_user_details where email = 'v@ops.test'"
    )
    assert rows == 3  # insert-only: every change is a new row
    listed = await run(cli, "console", "users", "--json")
    assert [u["email"] for u in json.loads(listed.output)] == ["v@ops.test"]


async def test_up_on_a_fresh_home_creates_the_demo_console_admin(
    vault_dsn: str, tmp_path: Path, vault_pool: asyncpg.Pool
) -> None:
    await bootstrap(vault_dsn, tmp_path)
    secret = (tmp_path / "secrets" / "console-password").read_text().strip()
    user = await get_user(vault_pool, DEMO_EMAIL)
    assert user is not None and user.role == "admin" and user.customer == "demo"
    assert passwords.verify(user.password_hash, secret)
    await bootstrap(vault_dsn, tmp_path)  # a second `up` changes nothing
    assert (tmp_path / "secrets" / "console-password").read_text().strip() == secret
