"""The raw vault's shape: every table insert-only, ghosts in every hub, specs match the catalog."""

from __future__ import annotations

import asyncpg
import pytest

from warehouse.hashing import GHOST_HK
from warehouse.tables import ALL_TABLES, HUBS, SatSpec


async def _tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("select tablename from pg_tables where schemaname = 'raw_vault' order by 1")
    return [r["tablename"] for r in rows]


async def test_every_table_is_insert_only(vault_pool: asyncpg.Pool) -> None:
    async with vault_pool.acquire() as conn:
        tables = await _tables(conn)
        assert len(tables) == len(ALL_TABLES)
        for table in tables:
            for statement in (
                f"update raw_vault.{table} set load_dts = now()",
                f"delete from raw_vault.{table}",
                f"truncate raw_vault.{table}",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="raw_vault is insert-only"):
                    await conn.execute(statement)


async def test_every_hub_has_its_ghost(vault_pool: asyncpg.Pool) -> None:
    async with vault_pool.acquire() as conn:
        for hub in HUBS:
            count = await conn.fetchval(
                f"select count(*) from raw_vault.{hub.name} where {hub.key} = $1", GHOST_HK
            )
            assert count == 1, hub.name


async def test_specs_match_the_catalog(vault_pool: asyncpg.Pool) -> None:
    async with vault_pool.acquire() as conn:
        for spec in ALL_TABLES:
            rows = await conn.fetch(
                "select column_name from information_schema.columns where table_schema = 'raw_vault' "
                "and table_name = $1 order by ordinal_position",
                spec.name,
            )
            actual = {r["column_name"] for r in rows}
            assert actual == {*spec.columns, "load_dts"}, spec.name
            if isinstance(spec, SatSpec):
                assert "hash_diff" in actual


async def test_hash_keys_must_be_32_bytes(vault_pool: asyncpg.Pool) -> None:
    async with vault_pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "insert into raw_vault.hub_customer values ('\\x00'::bytea, 'x', now(), 'test')"
            )


def test_rows_are_built_by_column_name() -> None:
    """Writers name each value: the order is the spec's, an unknown or forgotten column is an
    error (a late column may be left out: NULL, as before it existed)."""
    from warehouse.tables import SAT_BUDGET_DEFINITION as spec

    values = dict(
        changed_by="t",
        scope_type="tag",
        scope_value="team=a",
        period="month",
        limit_usd=5,
        is_soft=False,
        alert_thresholds=[80],
        is_active=True,
    )
    assert spec.row(**dict(reversed(values.items()))) == tuple(values[a] for a in spec.attributes)
    with pytest.raises(ValueError, match="unknown columns \\['limit'\\]"):
        spec.row(**{**values, "limit": 5})
    with pytest.raises(ValueError, match="missing \\['is_active'\\]"):
        spec.row(**{k: v for k, v in values.items() if k != "is_active"})
    late = SatSpec("s", "p", ("a", "b"), late=("b",))
    assert late.row(a=1) == (1, None)
