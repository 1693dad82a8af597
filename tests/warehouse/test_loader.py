"""The loader writes every row of an event once; reloading anything changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.events import AttemptEvent, CostEvent, RequestEvent, TokenCounts
from warehouse.hashing import GHOST_HK, hash_key
from warehouse.loader import VaultLoader, load_pipelined
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


async def _counts(conn: asyncpg.Connection) -> dict[str, int]:
    return {s.name: await conn.fetchval(f"select count(*) from raw_vault.{s.name}") for s in t.ALL_TABLES}


def _event(request_id: str = "req-1", **overrides: object) -> RequestEvent:
    fields: dict = dict(
        request_id=request_id,
        request_ts=T0,
        completed_ts=T0 + timedelta(milliseconds=250),
        endpoint="/v1/ai/completions",
        customer="acme",
        gateway_key_id="gk_1",
        end_user="alice",
        provider="anthropic",
        model="claude-3-5-haiku-latest",
        status="success",
        http_status=200,
        client_ip="10.1.2.3",
        tags={"team": "ml", "project": "search"},
        attempts=[
            AttemptEvent(
                attempt_no=1,
                provider="openai",
                model="gpt-4o-mini",
                started_ts=T0,
                latency_ms=3.2,
                outcome="error",
                http_status=503,
                error_class="server_error",
            ),
            AttemptEvent(
                attempt_no=2,
                provider="anthropic",
                model="claude-3-5-haiku-latest",
                started_ts=T0,
                latency_ms=240.5,
                outcome="success",
                http_status=200,
                input_tokens=100,
                output_tokens=20,
            ),
        ],
        usage=TokenCounts(input_tokens=100, output_tokens=20),
        cost=CostEvent(
            cost_event_id=f"{request_id}:cost",
            event_ts=T0,
            tokens=TokenCounts(input_tokens=100, output_tokens=20),
            input_per_mtok=Decimal("0.8"),
            output_per_mtok=Decimal("4"),
            is_priced=True,
            provider_cost=Decimal("0.000160000000"),
            markup_pct=Decimal("20"),
            markup_amount=Decimal("0.000032000000"),
            customer_cost=Decimal("0.000192000000"),
        ),
    )
    fields.update(overrides)
    return RequestEvent(**fields)


async def test_one_event_lands_in_every_table_it_touches(vault_pool: asyncpg.Pool) -> None:
    loader = VaultLoader(vault_pool)
    result = await loader.load(batch_from_events([_event()]))
    assert result.inserted["hub_api_request"] == 1
    assert result.inserted["sat_api_request_attempt"] == 2
    assert result.inserted["sat_api_request_tags"] == 2
    async with vault_pool.acquire() as conn:
        link = await conn.fetchrow("select * from raw_vault.lnk_api_request_context")
        assert link["api_request_hk"] == hash_key("req-1")
        assert link["customer_hk"] == hash_key("acme")
        assert link["routing_rule_hk"] == GHOST_HK  # no rule matched: the ghost, never NULL
        cost = await conn.fetchrow("select * from raw_vault.sat_cost_event_details")
        assert cost["customer_cost"] == Decimal("0.000192000000")
        assert isinstance(cost["provider_cost"], Decimal)
        failed = await conn.fetchrow(
            "select a.*, m.model_bk from raw_vault.sat_api_request_attempt a "
            "join raw_vault.hub_model m using (model_hk) where attempt_no = 1"
        )
        assert (failed["model_bk"], failed["error_class"]) == ("gpt-4o-mini", "server_error")
        details = await conn.fetchrow("select * from raw_vault.sat_api_request_details")
        assert (details["attempt_count"], str(details["client_ip"])) == (2, "10.1.2.3")


async def test_reloading_changes_nothing(vault_pool: asyncpg.Pool) -> None:
    loader = VaultLoader(vault_pool)
    events = list(synthetic_events(300, seed=3))
    await loader.load(batch_from_events(events))
    async with vault_pool.acquire() as conn:
        before = await _counts(conn)
        again = await loader.load(batch_from_events(events[100:200]))
        assert again.rows_inserted == 0
        assert await _counts(conn) == before


async def test_satellite_writes_only_on_change(vault_pool: asyncpg.Pool) -> None:
    loader = VaultLoader(vault_pool)
    hk = hash_key("acme")

    def config(markup: str, changed_by: str) -> VaultBatch:
        batch = VaultBatch()
        batch.hub(t.HUB_CUSTOMER, "acme", record_source="admin-api")
        batch.sat(
            t.SAT_CUSTOMER_CONFIG,
            hk,
            (
                changed_by,
                "Acme",
                "standard",
                "active",
                Decimal(markup),
                None,
                None,
                60,
                None,
                "none",
                "none",
                ["analytics"],
                Decimal("0"),
                "USD",
                None,
                None,
                *([None] * 7),  # 010: cache, PII and embedding settings (defaults)
                None,  # 013: drop_unsupported_params (default)
                None,  # 016: max_concurrent (default)
                None,  # 016: max_concurrent_per_key (default)
                None,  # 017: billing_mode (default: postpaid)
                None,  # 017: low_balance_threshold (default)
                *([None] * 4),  # 021: rph, token quota, savings share, markup plan (defaults)
            ),
            record_source="admin-api",
        )
        return batch

    assert (await loader.load(config("20", "ops@a"))).inserted["sat_customer_config"] == 1
    # same state by another admin: changed_by is not part of the hash diff
    assert (await loader.load(config("20.0", "ops@b"))).inserted["sat_customer_config"] == 0
    assert (await loader.load(config("25", "ops@a"))).inserted["sat_customer_config"] == 1
    assert (await loader.load(config("20", "ops@a"))).inserted[
        "sat_customer_config"
    ] == 1  # back again: a change


async def test_last_state_in_a_batch_wins(vault_pool: asyncpg.Pool) -> None:
    batch = VaultBatch()
    batch.sat(t.SAT_API_REQUEST_TAGS, hash_key("r"), ("a",), record_source="gateway", sub_key="team")
    batch.sat(t.SAT_API_REQUEST_TAGS, hash_key("r"), ("b",), record_source="gateway", sub_key="team")
    await VaultLoader(vault_pool).load(batch)
    async with vault_pool.acquire() as conn:
        assert await conn.fetch("select tag_value from raw_vault.sat_api_request_tags") == [("b",)]


_texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    events=st.lists(
        st.builds(
            lambda rid, customer, user, tags, model, tokens: _event(
                request_id=f"r-{rid}",
                customer=customer or "c",
                end_user=user,
                tags=tags,
                model=model,
                usage=TokenCounts(input_tokens=tokens, output_tokens=tokens // 2),
            ),
            rid=st.integers(0, 30),
            customer=_texts,
            user=st.none() | _texts,
            tags=st.dictionaries(_texts.filter(bool), _texts, max_size=3),
            model=_texts,
            tokens=st.integers(0, 10_000),
        ),
        max_size=15,
    ),
    split=st.integers(0, 15),
)
async def test_property_same_batch_twice_changes_nothing(
    vault_pool: asyncpg.Pool, events: list[RequestEvent], split: int
) -> None:
    loader = VaultLoader(vault_pool)
    async with vault_pool.acquire() as conn:
        await loader.load(batch_from_events(events[:split]))
        await loader.load(batch_from_events(events))
        snapshot = await _counts(conn)
        second = await loader.load(batch_from_events(events))
        assert second.rows_inserted == 0
        assert await _counts(conn) == snapshot


async def test_sql_hash_diff_matches_the_python_recipe(vault_pool: asyncpg.Pool) -> None:
    """PostgreSQL hashes satellites at load time; Python (and dbt) must get the same bytes."""
    ts = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)
    tricky = RequestEvent(
        request_id="req-hash-parity",
        request_ts=ts,
        completed_ts=ts + timedelta(seconds=1),
        endpoint="/v1/ai/completions",
        customer="acme",
        provider="openai",
        model="gpt-4o-mini",
        request_type="a|b^c\\d",
        stream=True,
        status="success",
        http_status=200,
        latency_ms=12.5,
        max_cost=Decimal("1.50000"),
        usage=TokenCounts(input_tokens=10, output_tokens=0),
        client_ip="10.1.2.3",
        user_agent="Ünïcode agent",
        compliance_flags=["pii:email", "é"],
        tags={"team": ""},
        cost=CostEvent(
            cost_event_id="req-hash-parity:cost",
            event_ts=ts,
            tokens=TokenCounts(input_tokens=10),
            is_priced=True,
            provider_cost=Decimal("0.000100000000"),
            markup_pct=Decimal("20"),
            markup_amount=Decimal("0.00002"),
            customer_cost=Decimal("0.00012"),
        ),
    )
    batch = batch_from_events([tricky])
    await VaultLoader(vault_pool).load(batch)
    for spec, rows in batch.tables():
        if not isinstance(spec, t.SatSpec):
            continue
        stored = await vault_pool.fetch(f"select * from raw_vault.{spec.name}")
        by_key = {tuple(r[c] for c in spec.key_columns): r["hash_diff"] for r in stored}
        offset = len(spec.key_columns) + 1  # key columns, record_source, then attributes
        for row in rows:
            attrs = row[offset:]
            assert by_key[row[: len(spec.key_columns)]] == spec.hash_diff(attrs), spec.name


async def test_pipelined_load_lands_every_batch_once(vault_pool: asyncpg.Pool) -> None:
    events = list(synthetic_events(90, seed=41))
    batches = [events[i : i + 20] for i in range(0, 90, 20)]  # five batches, the last one short
    loader = VaultLoader(vault_pool)
    rows = await load_pipelined(loader, batches, batch_from_events)
    assert rows > 90 * 5
    count = "select count(*) from raw_vault.hub_api_request where api_request_hk <> $1"
    assert await vault_pool.fetchval(count, GHOST_HK) == 90
    assert await load_pipelined(loader, batches, batch_from_events) == 0  # idempotent


async def test_new_events_are_appended_and_share_one_load_time(vault_pool: asyncpg.Pool) -> None:
    events = list(synthetic_events(40, seed=51))
    result = await VaultLoader(vault_pool).load(batch_from_events(events))
    assert {
        "hub_api_request",
        "hub_cost_event",
        "lnk_api_request_context",
        "lnk_cost_event_api_request",
        "sat_api_request_details",
        "sat_api_request_attempt",
        "sat_cost_event_details",
    } <= result.appended
    assert "hub_customer" not in result.appended  # shared hubs are always merged
    assert result.inserted["sat_api_request_details"] == 40
    async with vault_pool.acquire() as conn:
        stamps: set[datetime] = set()
        for spec in t.ALL_TABLES:
            stamps |= {
                r[0]
                for r in await conn.fetch(
                    f"select distinct load_dts from raw_vault.{spec.name} where record_source <> 'system'"
                )
            }
        assert len(stamps) == 1  # the transaction's now(), whether COPYed or inserted
        assert await conn.fetchval("select count(*) from raw_vault.sat_api_request_details") == 40


async def test_a_redelivered_event_sends_its_batch_down_the_merge_path(vault_pool: asyncpg.Pool) -> None:
    events = list(synthetic_events(30, seed=52))
    loader = VaultLoader(vault_pool)
    await loader.load(batch_from_events(events[:10]))
    again = await loader.load(batch_from_events(events[5:30]))  # five of them already loaded
    assert again.appended == set()
    assert again.inserted["hub_api_request"] == again.inserted["sat_api_request_details"] == 20
    async with vault_pool.acquire() as conn:
        before = await _counts(conn)
        for name in ("sat_api_request_details", "sat_cost_event_details", "lnk_api_request_context"):
            assert before[name] == 30, name
        assert (await loader.load(batch_from_events(events))).rows_inserted == 0
        assert await _counts(conn) == before


async def test_a_satellite_whose_hub_is_not_new_is_compared_even_beside_new_events(
    vault_pool: asyncpg.Pool,
) -> None:
    """Rows hang off new keys only if *every* row of the table does; one old key: merge."""
    loader = VaultLoader(vault_pool)
    await loader.load(batch_from_events([_event("old")]))
    batch = batch_from_events([_event("new")])
    batch.sat(t.SAT_API_REQUEST_TAGS, hash_key("old"), ("ml",), record_source="gateway", sub_key="team")
    batch.sat(t.SAT_API_REQUEST_TAGS, hash_key("old"), ("x",), record_source="gateway", sub_key="cost_center")
    result = await loader.load(batch)
    assert "hub_api_request" in result.appended and "sat_api_request_tags" not in result.appended
    assert result.inserted["sat_api_request_tags"] == 2 + 1  # new's two tags, old's new one
    tags = await vault_pool.fetch(
        "select tag_key, tag_value from raw_vault.sat_api_request_tags where api_request_hk = $1 "
        "order by tag_key",
        hash_key("old"),
    )
    assert [tuple(r) for r in tags] == [("cost_center", "x"), ("project", "search"), ("team", "ml")]


async def test_a_table_without_the_load_dts_default_is_stamped_by_the_loader(
    vault_pool: asyncpg.Pool,
) -> None:
    async with vault_pool.acquire() as conn:
        defaults = await conn.fetch(  # sql/009 gave the vault's tables the default
            "select table_name from information_schema.columns where table_schema = 'raw_vault' "
            "and column_name = 'load_dts' and column_default = 'now()'"
        )
        assert {t.HUB_API_REQUEST.name, t.LNK_API_REQUEST_CONTEXT.name} <= {r[0] for r in defaults}
        await conn.execute("alter table raw_vault.hub_api_request alter column load_dts drop default")
    result = await VaultLoader(vault_pool).load(batch_from_events([_event("r-stamped")]))
    assert "hub_api_request" in result.appended
    async with vault_pool.acquire() as conn:
        hub, sat = await conn.fetchrow(
            "select h.load_dts, s.load_dts from raw_vault.hub_api_request h "
            "join raw_vault.sat_api_request_details s using (api_request_hk)"
        )
        assert hub == sat


async def test_shared_keys_are_remembered_only_once_committed(vault_pool: asyncpg.Pool) -> None:
    """The loader skips hub/link keys it saw committed; a rolled-back load must not count."""
    loader = VaultLoader(vault_pool)
    broken = VaultBatch()
    broken.hub(t.HUB_CUSTOMER, "acme-x", record_source="test")
    broken.sat(
        t.SAT_COST_EVENT_DETAILS,
        hash_key("c"),
        (None,) * len(t.SAT_COST_EVENT_DETAILS.attributes),
        record_source="test",
    )  # NOT NULLs
    try:
        await loader.load(broken)
    except asyncpg.NotNullViolationError:
        pass
    else:
        raise AssertionError("a cost event without its columns must not load")
    good = VaultBatch()
    good.hub(t.HUB_CUSTOMER, "acme-x", record_source="test")
    assert (await loader.load(good)).inserted["hub_customer"] == 1
    assert (await loader.load(good)).inserted["hub_customer"] == 0  # known now: dropped before the COPY
    count = "select count(*) from raw_vault.hub_customer where customer_hk = $1"
    assert await vault_pool.fetchval(count, hash_key("acme-x")) == 1
