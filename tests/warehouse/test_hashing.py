"""Python and SQL hash recipes agree byte for byte on the shared vectors, and the recipe has
the properties the vault relies on (no delimiter collisions, NULL marker can't be faked)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from warehouse.hashing import (
    DELIMITER,
    GHOST_HK,
    RECIPE_VERSION,
    canonical_text,
    hash_diff,
    hash_key,
    hash_text,
    hub_key,
    key_text,
)

VECTORS = json.loads((Path(__file__).parents[1] / "fixtures" / "hash_vectors.json").read_text())


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_python_matches_vectors(vector: dict) -> None:
    assert hash_key(*vector["parts"]).hex() == vector["hash_key_hex"]
    assert hash_diff(vector["parts"]).hex() == vector["hash_diff_hex"]


async def test_sql_matches_vectors(vault_pool: asyncpg.Pool) -> None:
    async with vault_pool.acquire() as conn:
        assert await conn.fetchval("select raw_vault.ov_hash_recipe_version()") == RECIPE_VERSION == 1
        for v in VECTORS["vectors"]:
            key = await conn.fetchval("select raw_vault.ov_hash_key(variadic $1::text[])", v["parts"])
            diff = await conn.fetchval("select raw_vault.ov_hash_diff(variadic $1::text[])", v["parts"])
            assert key.hex() == v["hash_key_hex"], v["name"]
            assert diff.hex() == v["hash_diff_hex"], v["name"]


def test_recipe_by_hand() -> None:
    assert hash_key(" acme ") == hashlib.sha256(b"ACME").digest()
    assert hash_key("a|", "b") == hashlib.sha256(b"A\\|||B").digest()
    assert hash_key(None, "") == hashlib.sha256(b"^^||^^").digest()
    assert hash_diff([" Acme "]) == hashlib.sha256(b" Acme ").digest()


def test_delimiters_cannot_collide() -> None:
    assert hash_key("a|", "b") != hash_key("a", "|b")
    assert hash_key("a||b") != hash_key("a", "b")
    assert hash_key("^^") != hash_key(None)
    assert hash_key("a\\", "b") != hash_key("a", "\\b")


def test_keys_normalise_but_diffs_do_not() -> None:
    assert hash_key("acme") == hash_key("  ACME\n")
    assert hash_diff(["acme"]) != hash_diff(["ACME"])
    assert hash_diff(["acme"]) != hash_diff(["acme "])
    # ASCII-only upper-casing: locale-independent, so Unicode case stays as given
    assert hash_key("é") != hash_key("É")


def test_ghost_and_hub_key() -> None:
    assert bytes(32) == GHOST_HK
    assert hub_key(None) == GHOST_HK
    assert hub_key("") == GHOST_HK
    assert hub_key("acme") == hash_key("acme")


def test_canonical_text() -> None:
    ts = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert canonical_text(ts) == "2026-01-02T01:04:05.000000+00:00"
    assert canonical_text(Decimal("1.500000000000")) == canonical_text(Decimal("1.5")) == "1.5"
    assert canonical_text(Decimal("100")) == "100"
    assert canonical_text(True) == "true"
    with pytest.raises(ValueError, match="naive"):
        canonical_text(datetime(2026, 1, 1))


async def test_sql_canonical_text_twins(vault_pool: asyncpg.Pool) -> None:
    """The documented SQL casts give the same text as canonical_text for timestamps and numerics."""
    ts = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    async with vault_pool.acquire() as conn:
        sql_ts = await conn.fetchval(
            "select to_char($1::timestamptz at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')", ts
        )
        sql_num = await conn.fetchval("select trim_scale($1::numeric(24,12))::text", Decimal("1.5"))
    assert sql_ts == canonical_text(ts)
    assert sql_num == canonical_text(Decimal("1.5"))


_part = st.none() | st.text(max_size=8) | st.sampled_from([" a ", "x|y", "^^", "\\", "é"])
_parts = st.lists(_part, max_size=5)


@given(head=_parts, tail=_parts)
def test_key_texts_compose_into_the_hash_key_of_all_parts(head: list, tail: list) -> None:
    """The loader hashes a link from its hubs' key texts; it must be hash_key of all parts."""
    if not head or not tail:
        return
    joined = key_text(*head) + DELIMITER + key_text(*tail)
    assert hash_text(joined) == hash_key(*head, *tail)
