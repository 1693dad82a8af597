"""BI access: `onevault bi-role create` makes a read-only login that reads the marts and nothing
else; a per-customer role sees only its customer's rows (row-level security applied by dbt's
post-hook, so it survives rebuilds). Checked by connecting as the role over TCP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from typer.testing import CliRunner

from gateway.admin.customers import CustomerConfig, create_customer
from gateway.cli.main import app as cli_app
from warehouse.embedded import PostgresEndpoint
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.settings import get_settings
from warehouse.synthetic import synthetic_events

MARTS = ("invoices", "invoice_lines", "chargeback", "spend_daily", "spend_monthly", "savings")


@pytest.fixture(scope="module")
async def built(module_pool: asyncpg.Pool, module_dbt) -> None:
    for slug in ("acme", "globex"):
        await create_customer(module_pool, slug, CustomerConfig(display_name=slug), changed_by="test")
    events = synthetic_events(120, seed=9, customer_names=["acme", "globex"], realistic=True)
    await VaultLoader(module_pool).load(batch_from_events(events))
    module_dbt("build", "--exclude", "source:*")


@pytest.fixture(scope="module")
def onevault(module_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliRunner]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONEVAULT_DATABASE_URL", module_dsn)
        mp.setenv("ONEVAULT_REDIS_URL", "redis://127.0.0.1:1/0")  # never reached by these commands
        mp.setenv("ONEVAULT_HOME", str(tmp_path_factory.mktemp("home")))
        get_settings.cache_clear()
        yield CliRunner()
    get_settings.cache_clear()


async def create_role(onevault: CliRunner, *args: str) -> dict:
    name = f"bi_t{uuid.uuid4().hex[:10]}"  # roles are cluster-wide: unique per test run
    done = await asyncio.to_thread(
        onevault.invoke, cli_app, ["bi-role", "create", *args, "--name", name, "--json"]
    )
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


async def connect_as(role: dict, pg_server: PostgresEndpoint, module_dsn: str) -> asyncpg.Connection:
    """Over loopback TCP with the printed password, as a BI tool would."""
    database = module_dsn.split("/")[3].split("?")[0]
    return await asyncpg.connect(
        host="127.0.0.1", port=pg_server.port, user=role["role"], password=role["password"], database=database
    )


async def customers_seen(conn: asyncpg.Connection) -> dict[str, set[str]]:
    return {
        mart: {r[0] for r in await conn.fetch(f"select distinct customer_slug from marts.{mart}")}
        for mart in MARTS
    }


async def test_a_customer_role_sees_only_its_rows_in_the_marts_and_nothing_else(
    built: None, onevault: CliRunner, pg_server: PostgresEndpoint, module_dsn: str, module_dbt
) -> None:
    role = await create_role(onevault, "acme")
    assert role["customer"] == "acme" and role["role"] in role["connection_string"]
    conn = await connect_as(role, pg_server, module_dsn)
    try:
        assert await customers_seen(conn) == {mart: {"acme"} for mart in MARTS}
        # every customer's traffic is in the provider windows: a customer role sees none of it
        assert await conn.fetchval("select count(*) from marts.provider_performance_5m") == 0
        for table in (
            "raw_vault.hub_customer",
            "staging.stg_hub_customer",
            "business_vault.bridge_api_request",
            "bi_access.role_customer",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"select * from {table} limit 1")
        with pytest.raises((asyncpg.ReadOnlySQLTransactionError, asyncpg.InsufficientPrivilegeError)):
            await conn.execute("delete from marts.invoices")
    finally:
        await conn.close()

    module_dbt("run", "--select", "marts")  # tables are replaced: the policy must come back
    conn = await connect_as(role, pg_server, module_dsn)
    try:
        assert await customers_seen(conn) == {mart: {"acme"} for mart in MARTS}
    finally:
        await conn.close()


async def test_an_all_customers_role_reads_every_mart_row(
    built: None, onevault: CliRunner, pg_server: PostgresEndpoint, module_dsn: str, module_pool: asyncpg.Pool
) -> None:
    role = await create_role(onevault, "--all")
    conn = await connect_as(role, pg_server, module_dsn)
    try:
        assert await customers_seen(conn) == {mart: {"acme", "globex"} for mart in MARTS}
        windows = await module_pool.fetchval("select count(*) from marts.provider_performance_5m")
        assert windows > 0
        assert await conn.fetchval("select count(*) from marts.provider_performance_5m") == windows
    finally:
        await conn.close()


async def test_roles_are_listed_dropped_and_refused_for_unknown_customers(
    built: None, onevault: CliRunner, module_pool: asyncpg.Pool
) -> None:
    role = await create_role(onevault, "globex")
    listed = await asyncio.to_thread(onevault.invoke, cli_app, ["bi-role", "list", "--json"])
    assert {"role": role["role"], "customer": "globex"} in json.loads(listed.output)
    dropped = await asyncio.to_thread(onevault.invoke, cli_app, ["bi-role", "drop", role["role"]])
    assert dropped.exit_code == 0, dropped.output
    assert not await module_pool.fetchval("select 1 from pg_roles where rolname = $1", role["role"])
    refused = await asyncio.to_thread(onevault.invoke, cli_app, ["bi-role", "create", "nobody-here"])
    assert refused.exit_code == 1 and "no customer" in refused.output
    audit = await module_pool.fetch(
        "select action, outcome from raw_vault.sat_admin_action_details where action like 'bi-roles.%'"
    )
    assert {("bi-roles.create", "ok"), ("bi-roles.drop", "ok"), ("bi-roles.create", "refused")} <= {
        (r["action"], r["outcome"]) for r in audit
    }


def test_status_points_at_bi_roles(onevault: CliRunner) -> None:
    done = onevault.invoke(cli_app, ["status"])
    assert "bi-role create" in done.output
