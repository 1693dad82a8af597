"""Migrations apply in order once, record checksums, and refuse an edited applied file."""

from __future__ import annotations

import shutil
from pathlib import Path

import asyncpg
import pytest

from warehouse.db import connect
from warehouse.migrations import SQL_DIR, MigrationError, discover, migrate, schema_version


async def test_migrate_twice_is_a_noop(fresh_database: str) -> None:
    conn = await connect(fresh_database)
    try:
        first = await migrate(conn)
        assert first == [m.name for m in discover()]
        tables_before = await conn.fetchval("select count(*) from pg_tables where schemaname = 'raw_vault'")
        assert await migrate(conn) == []
        assert (
            await conn.fetchval("select count(*) from pg_tables where schemaname = 'raw_vault'")
            == tables_before
        )
        assert await schema_version(conn) == discover()[-1].version
    finally:
        await conn.close()


async def test_changed_applied_file_is_an_error(fresh_database: str, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    conn = await connect(fresh_database)
    try:
        await migrate(conn, sql_dir)
        target = sorted(sql_dir.glob("*.sql"))[0]
        target.write_text(target.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match=f"{target.name} changed after it was applied"):
            await migrate(conn, sql_dir)
    finally:
        await conn.close()


async def test_new_file_is_applied_and_recorded(fresh_database: str, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR, sql_dir)
    conn = await connect(fresh_database)
    try:
        await migrate(conn, sql_dir)
        (sql_dir / "900_extra.sql").write_text(
            "create table raw_vault.extra_thing (x int); select raw_vault.protect_all();"
        )
        assert await migrate(conn, sql_dir) == ["900_extra.sql"]
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("delete from raw_vault.extra_thing")
    finally:
        await conn.close()


async def test_failed_migration_leaves_nothing_behind(fresh_database: str, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "001_ok.sql").write_text("create table public.ok_table (x int);")
    (sql_dir / "002_broken.sql").write_text("create table public.half (x int); select 1/0;")
    conn = await connect(fresh_database)
    try:
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrate(conn, sql_dir)
        assert await conn.fetchval("select to_regclass('public.half')") is None
        assert await schema_version(conn) == 1
    finally:
        await conn.close()


def test_bad_file_names_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("")
    with pytest.raises(MigrationError, match="NNN_lower_snake"):
        discover(tmp_path)
