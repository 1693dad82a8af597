"""A customer's BI login learns nothing about the other customers from the catalog — every role
name it can list (``pg_roles``, ``pg_stat_activity``) is opaque — and cannot hold a backend with
a query that never ends: its ``statement_timeout`` cancels it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.admin.customers import CustomerConfig, create_customer
from gateway.cli.bi_roles import BiRole, create_bi_role, default_role_name, drop_bi_role
from warehouse.embedded import PostgresEndpoint

CUSTOMERS = ("acme-health", "globex")


@pytest.fixture
async def roles(vault_pool: asyncpg.Pool) -> AsyncIterator[dict[str, BiRole]]:
    """One BI role per customer, named as ``onevault bi-role create <slug>`` names them."""
    made: dict[str, BiRole] = {}
    for slug in CUSTOMERS:
        await create_customer(vault_pool, slug, CustomerConfig(display_name=slug), changed_by="t")
        made[slug] = await create_bi_role(
            vault_pool, slug, default_role_name(slug), created_by="t", statement_timeout_s=1.0
        )
    yield made
    for role in made.values():  # roles are cluster-wide
        await drop_bi_role(vault_pool, role.role)


async def connect_as(role: BiRole, pg_server: PostgresEndpoint, vault_dsn: str) -> asyncpg.Connection:
    """Over loopback TCP with the role's password, as a BI tool would."""
    database = vault_dsn.split("/")[3].split("?")[0]
    return await asyncpg.connect(
        host="127.0.0.1", port=pg_server.port, user=role.role, password=role.password, database=database
    )


async def test_a_bi_login_cannot_name_the_other_customers(
    roles: dict[str, BiRole], pg_server: PostgresEndpoint, vault_dsn: str
) -> None:
    acme = await connect_as(roles["acme-health"], pg_server, vault_dsn)
    other = await connect_as(roles["globex"], pg_server, vault_dsn)  # a session of theirs, live
    try:
        visible = [r[0] for r in await acme.fetch("select rolname from pg_roles")]
        visible += [r[0] or "" for r in await acme.fetch("select usename from pg_stat_activity")]
        assert roles["globex"].role in visible  # the role is listed ...
        for slug in CUSTOMERS:  # ... but no name says whose it is (its own neither)
            for word in slug.split("-"):
                assert not [name for name in visible if word in name], (word, visible)
    finally:
        await acme.close()
        await other.close()


async def test_a_bi_query_is_cancelled_at_its_statement_timeout(
    roles: dict[str, BiRole], pg_server: PostgresEndpoint, vault_dsn: str
) -> None:
    conn = await connect_as(roles["acme-health"], pg_server, vault_dsn)
    try:
        assert await conn.fetchval("show statement_timeout") == "1s"
        started = time.monotonic()
        with pytest.raises(asyncpg.QueryCanceledError):
            await conn.fetchval("select pg_sleep(30)")
        assert time.monotonic() - started < 5
    finally:
        await conn.close()
