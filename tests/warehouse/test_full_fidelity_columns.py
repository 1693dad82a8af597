"""sql/013's columns: what a request used, the token kinds and rates priced on their own, and the
customer's drop_unsupported_params. They load; reloading is a no-op; and an event (or customer
setting) loaded before the migration and loaded again after it adds no satellite row, because a
late column takes part in the hash diff only when it is set (warehouse/hashing.py)."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from gateway.admin.customers import CustomerConfig, create_customer, current_config, update_customer
from gateway.pipeline.data_policy import load_policy
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.db import connect, create_pool
from warehouse.events import CostEvent, PayloadEvent, PriceEvent, RequestEvent, TokenCounts
from warehouse.hashing import hash_diff, hash_key, late_parts
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.migrations import SQL_DIR, migrate

T0 = datetime(2026, 11, 3, 9, tzinfo=UTC)
LATE = [s for s in t.SATELLITES if s.late]


def _event(request_id: str = "ff-1", **features: object) -> RequestEvent:
    """A request with a cost and a price; ``features`` sets sql/013's fields (none: old-shaped)."""
    tokens = dict(features.pop("tokens", {}))  # type: ignore[call-overload]
    prices = dict(features.pop("prices", {}))  # type: ignore[call-overload]
    usage = TokenCounts(input_tokens=1000, output_tokens=200, cached_input_tokens=100, **tokens)
    return RequestEvent(
        request_id=request_id,
        request_ts=T0,
        completed_ts=T0 + timedelta(milliseconds=400),
        endpoint="/v1/chat/completions",
        customer="acme",
        provider="anthropic",
        model="claude-sonnet-4-5",
        status="success",
        http_status=200,
        usage=usage,
        cost=CostEvent(
            cost_event_id=f"{request_id}:cost",
            event_ts=T0,
            tokens=usage,
            input_per_mtok=Decimal("3"),
            output_per_mtok=Decimal("15"),
            cached_input_per_mtok=Decimal("0.3"),
            is_priced=True,
            provider_cost=Decimal("0.005730000000"),
            markup_pct=Decimal("20"),
            markup_amount=Decimal("0.001146000000"),
            customer_cost=Decimal("0.006876000000"),
            **prices,
        ),
        price=PriceEvent(
            provider="anthropic",
            model="claude-sonnet-4-5",
            input_per_mtok=Decimal("3"),
            output_per_mtok=Decimal("15"),
            cached_input_per_mtok=Decimal("0.3"),
            price_source="test",
            **prices,
        ),
        **features,
    )


FULL = dict(
    tools_offered=5,
    tool_calls_returned=2,
    input_modalities=["text", "image"],
    response_format="json_schema",
    reasoning_effort="a|b^c\\d",  # the escaping rule holds for late columns too
    validation_status="failed",
    dropped_params=["logit_bias", "seed|x"],
    tokens={"cache_write_tokens": 300, "audio_input_tokens": 40, "image_input_tokens": 85},
    prices={"cache_write_per_mtok": Decimal("3.75"), "input_audio_per_mtok": Decimal("0.70")},
)


async def _rows(pool: asyncpg.Pool, spec: t.SatSpec) -> list[asyncpg.Record]:
    return await pool.fetch(f"select * from raw_vault.{spec.name} order by load_dts")


def _before_013(batch: VaultBatch) -> VaultBatch:
    """The same rows as the loader wrote them before sql/013: without the late columns."""
    old = VaultBatch()
    for spec, rows in batch.tables():
        for row in rows:
            if isinstance(spec, t.HubSpec):
                old.hub(spec, *row[1:-1], record_source=row[-1], hk=row[0])
            elif isinstance(spec, t.LinkSpec):
                old.link(spec, row[1:-1], (), record_source=row[-1], hk=row[0])
            else:
                base = len(spec.attributes) - len(spec.late)
                trimmed = dataclasses.replace(spec, attributes=spec.attributes[:base], late=())
                keys = len(spec.key_columns)
                assert all(v is None for v in row[keys + 1 + base :]), "an old event sets no late column"
                values = row[keys + 1 : keys + 1 + base]
                sub_key = row[1] if spec.sub_key else None
                old.sat(trimmed, row[0], values, record_source=row[keys], sub_key=sub_key)
    return old


async def test_the_new_columns_load(vault_pool: asyncpg.Pool) -> None:
    await VaultLoader(vault_pool).load(batch_from_events([_event(**FULL)]))
    (details,) = await _rows(vault_pool, t.SAT_API_REQUEST_DETAILS)
    assert (details["tools_offered"], details["tool_calls_returned"]) == (5, 2)
    assert details["input_modalities"] == ["text", "image"]
    assert (details["response_format"], details["reasoning_effort"]) == ("json_schema", "a|b^c\\d")
    assert (details["validation_status"], details["dropped_params"]) == ("failed", ["logit_bias", "seed|x"])
    assert (details["cache_write_tokens"], details["audio_input_tokens"], details["image_input_tokens"]) == (
        300,
        40,
        85,
    )
    (cost,) = await _rows(vault_pool, t.SAT_COST_EVENT_DETAILS)
    assert (cost["cache_write_tokens"], cost["audio_input_tokens"], cost["image_input_tokens"]) == (
        300,
        40,
        85,
    )
    assert (cost["cache_write_per_mtok"], cost["input_audio_per_mtok"]) == (Decimal("3.75"), Decimal("0.7"))
    (price,) = await _rows(vault_pool, t.SAT_MODEL_PRICE)
    assert (price["cache_write_per_mtok"], price["input_audio_per_mtok"]) == (Decimal("3.75"), Decimal("0.7"))


async def test_defaults_are_stored_as_null(vault_pool: asyncpg.Pool) -> None:
    """0 tools, no parts recorded, not_applicable, nothing dropped: NULL (the documented default)."""
    await VaultLoader(vault_pool).load(batch_from_events([_event(validation_status="not_applicable")]))
    (details,) = await _rows(vault_pool, t.SAT_API_REQUEST_DETAILS)
    assert all(details[c] is None for c in t.SAT_API_REQUEST_DETAILS.late)
    (cost,) = await _rows(vault_pool, t.SAT_COST_EVENT_DETAILS)
    assert all(cost[c] is None for c in t.SAT_COST_EVENT_DETAILS.late)


@pytest.mark.parametrize("features", [{}, FULL], ids=["old-shaped", "full-fidelity"])
async def test_reloading_is_a_no_op(vault_pool: asyncpg.Pool, features: dict) -> None:
    loader = VaultLoader(vault_pool)
    first = await loader.load(batch_from_events([_event(**features)]))
    assert first.inserted["sat_api_request_details"] == 1
    again = await VaultLoader(vault_pool).load(batch_from_events([_event(**features)]))  # merge path
    assert again.rows_inserted == 0


async def test_stored_hash_diffs_follow_the_late_column_rule(vault_pool: asyncpg.Pool) -> None:
    """PostgreSQL's hash at load = the Python twin; an old-shaped row's = the pre-013 recipe."""
    old, full = _event("ff-old"), _event("ff-full", **FULL)
    batch = batch_from_events([old, full])
    await VaultLoader(vault_pool).load(batch)
    for spec, rows in batch.tables():
        if not isinstance(spec, t.SatSpec) or not spec.late:
            continue
        stored = {r[spec.parent]: r["hash_diff"] for r in await _rows(vault_pool, spec)}
        keys = len(spec.key_columns) + 1
        for row in rows:
            attrs = row[keys:]
            assert stored[row[0]] == spec.hash_diff(attrs), spec.name
            if all(v is None for v in attrs[len(attrs) - len(spec.late) :]):  # old-shaped
                before_013 = hash_diff([attrs[i] for i in spec.hashed_positions])
                assert stored[row[0]] == before_013, spec.name


def test_a_late_column_counts_only_when_set_and_by_name() -> None:
    assert late_parts([("a", None), ("b", ""), ("c", 0), ("d", False), ("e", ["x"])]) == [
        "c=0",
        "d=false",
        'e=["x"]',
    ]
    spec = t.SatSpec("sat_x", "x_hk", ("base", "a", "b"), late=("a", "b"))
    assert spec.hash_diff(("v", None, None)) == hash_diff(["v"])  # as before the columns existed
    assert spec.hash_diff(("v", "1", None)) != spec.hash_diff(("v", None, "1"))  # named, not positional
    assert spec.hash_diff(("v", "1", None)) != hash_diff(["v"])
    with pytest.raises(ValueError, match="late columns must be the last"):
        t.SatSpec("sat_y", "y_hk", ("a", "base"), late=("a",))


async def test_rows_loaded_before_013_and_again_after_add_nothing(
    fresh_database: str, tmp_path: Path
) -> None:
    """The upgrade itself: a vault migrated to 012 holds an event, a customer and a price as the
    old loader wrote them; after sql/013 the same event and setting load as no new row."""
    before = tmp_path / "sql"
    before.mkdir()
    for path in SQL_DIR.glob("*.sql"):
        if int(path.name[:3]) < 13:
            shutil.copy(path, before / path.name)
    conn = await connect(fresh_database)
    try:
        await migrate(conn, before)
    finally:
        await conn.close()
    pool = await create_pool(fresh_database, min_size=1, max_size=2)
    try:
        old_config = CustomerConfig(display_name="Acme", pii_mode="redact")
        config_batch = VaultBatch()
        hk = config_batch.hub(t.HUB_CUSTOMER, "acme", record_source="admin-api")
        config_batch.sat(t.SAT_CUSTOMER_CONFIG, hk, old_config.values("ops"), record_source="admin-api")
        hashed = PayloadEvent(retention_mode="hash", prompt_sha256=b"p" * 32, completion_sha256=b"c" * 32)
        events = [_event("ff-a", payload=hashed), _event("ff-b", tools_offered=0, dropped_params=[])]
        for batch in (batch_from_events(events), config_batch):
            await VaultLoader(pool).load(_before_013(batch))
        counts = {s.name: await pool.fetchval(f"select count(*) from raw_vault.{s.name}") for s in LATE}
        assert all(counts.values()), counts

        conn = await connect(fresh_database)
        try:
            later = sorted(p.name for p in SQL_DIR.glob("*.sql") if int(p.name[:3]) >= 13)
            assert await migrate(conn) == later  # 013 and every migration since
        finally:
            await conn.close()
        again = await VaultLoader(pool).load(batch_from_events(events))
        assert again.rows_inserted == 0
        # an admin saving the same settings after the upgrade records no change either
        assert await update_customer(pool, "acme", {}, changed_by="ops") == old_config
        after = {s.name: await pool.fetchval(f"select count(*) from raw_vault.{s.name}") for s in LATE}
        assert after == counts
        # ... while a late column that is set is a change like any other
        await update_customer(pool, "acme", {"drop_unsupported_params": True}, changed_by="ops")
        assert (
            await pool.fetchval("select count(*) from raw_vault.sat_customer_config")
            == counts["sat_customer_config"] + 1
        )
    finally:
        await pool.close()


async def test_drop_unsupported_params_reaches_the_data_policy(vault_pool: asyncpg.Pool) -> None:
    await create_customer(vault_pool, "acme", CustomerConfig(display_name="Acme"), changed_by="ops")
    assert (await load_policy(vault_pool, "acme")).drop_unsupported_params is False  # NULL: default
    assert (await current_config(vault_pool, "acme")).drop_unsupported_params is None
    await update_customer(vault_pool, "acme", {"drop_unsupported_params": True}, changed_by="ops")
    assert (await load_policy(vault_pool, "acme")).drop_unsupported_params is True
    assert (await current_config(vault_pool, "acme")).drop_unsupported_params is True
    await update_customer(vault_pool, "acme", {"drop_unsupported_params": False}, changed_by="ops")
    assert (await load_policy(vault_pool, "acme")).drop_unsupported_params is False
    row = await vault_pool.fetchrow(
        "select drop_unsupported_params from raw_vault.sat_customer_config "
        "where customer_hk = $1 order by load_dts desc limit 1",
        hash_key("acme"),
    )
    assert row["drop_unsupported_params"] is False
