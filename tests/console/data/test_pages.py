"""What the console's pages read: a request's failover path, cost breakdown and payload status;
keyset paging over built and just-loaded requests; spend CSV in fixed-point; accessible charts;
and the request log's plan using indexes (no sequential scan of the raw vault)."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import asyncpg
import pytest

from gateway.console import charts, data
from gateway.console.data import Scope
from gateway.console.data import requests as request_data
from gateway.console.data.scope import ScopedQuery
from gateway.crypto import KeyRing
from gateway.crypto.data_keys import DataKeys
from gateway.crypto.envelope import new_master_key
from gateway.providers.canonical_json import dumps, request_to_json
from gateway.providers.types import ChatMessage, ChatRequest
from tests.console.data.conftest import TODAY, A, Warehouse, failover_request
from warehouse.events import PayloadEvent
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events

pytestmark = pytest.mark.xdist_group("dbt_target")

SCOPE_A = Scope.customer(A)


async def test_request_detail_shows_the_failover_path_cost_and_payload_status(warehouse: Warehouse) -> None:
    detail = await data.request_detail(warehouse.pool, SCOPE_A, f"{A}-failover-1")
    assert detail is not None
    assert [(a.attempt_no, a.provider, a.outcome, a.error_class) for a in detail.attempts] == [
        (1, "openai", "error", "rate_limited"),
        (2, "anthropic", "success", None),
    ]
    assert detail.request.provider == "anthropic" and detail.requested_model == "gpt-4o-mini"
    assert (detail.provider_cost, detail.markup, detail.customer_cost) == (
        Decimal("0.001600000000"),
        Decimal("0.000320000000"),
        Decimal("0.001920000000"),
    )
    assert detail.request.customer_cost == Decimal("0.001920000000")
    assert detail.tags == {"team": "ml", "project": "p1"}
    assert detail.pii_actions == ("email:redacted",) and detail.request.cache_status == "miss"
    assert detail.payload.retention == "hashed" and not detail.payload.shown
    assert detail.payload.prompt_sha256 and len(detail.payload.prompt_sha256) == 64
    plain = await data.request_detail(warehouse.pool, SCOPE_A, warehouse.of(A, fresh=False)[0].request_id)
    assert plain is not None and plain.payload.retention == "not_retained"


@pytest.mark.parametrize("lookback", [timedelta(0), timedelta(hours=1)])
async def test_request_log_pages_through_built_and_fresh_requests(
    warehouse: Warehouse, lookback: timedelta, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built requests come from the bridge, the rest from the vault; with an hour's lookback
    every request is in both halves and must still be listed once."""
    monkeypatch.setattr(request_data, "LOOKBACK", lookback)
    seen: list[data.RequestRow] = []
    query = data.RequestQuery(limit=37)
    while True:
        page = await data.request_log(warehouse.pool, SCOPE_A, query=query)
        seen += page.rows
        if page.next_cursor is None:
            break
        query = data.RequestQuery(limit=37, before=page.next_cursor)
    expected = sorted(warehouse.of(A), key=lambda e: (e.request_ts, e.request_id), reverse=True)
    assert [r.request_id for r in seen] == [e.request_id for e in expected]
    costs = {e.request_id: e.cost.customer_cost if e.cost else None for e in expected}
    assert all(r.customer_cost == costs[r.request_id] for r in seen)
    fresh = {e.request_id for e in warehouse.fresh if e.customer == A}
    assert fresh and fresh <= {r.request_id for r in seen}
    failed = await data.request_log(
        warehouse.pool, SCOPE_A, query=data.RequestQuery(status="error", limit=500)
    )
    assert {r.request_id for r in failed.rows} == {e.request_id for e in expected if e.status == "error"}
    key = f"{A}-key-1"
    by_key = await data.request_log(warehouse.pool, SCOPE_A, query=data.RequestQuery(key=key, limit=500))
    assert {r.request_id for r in by_key.rows} == {e.request_id for e in expected if e.gateway_key_id == key}


async def test_request_log_reads_indexes_not_the_whole_vault(warehouse: Warehouse) -> None:
    """The page's statement, explained with sequential scans priced out: every raw-vault and
    bridge table is reached by an index (a small test table would otherwise be scanned whole)."""
    statements: list[tuple[str, list[object]]] = []
    real_fetch = ScopedQuery.fetch

    async def capture(self: ScopedQuery, db: asyncpg.Pool, sql: str) -> list[asyncpg.Record]:
        statements.append((sql, list(self.args)))
        return await real_fetch(self, db, sql)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ScopedQuery, "fetch", capture)
        await data.request_log(warehouse.pool, SCOPE_A, query=data.RequestQuery(limit=50))
    sql, args = statements[-1]
    async with warehouse.pool.acquire() as conn, conn.transaction():
        await conn.execute("set local enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch("explain " + sql, *args))
    assert "Seq Scan" not in plan, plan
    assert "bridge_api_request" in plan and "sat_api_request_details" in plan


async def test_spend_csv_is_fixed_point_and_sums_to_the_table(warehouse: Warehouse) -> None:
    kwargs = dict(grain="day", by="model", start=TODAY - timedelta(days=30), end=TODAY)
    table = await data.spend(warehouse.pool, SCOPE_A, **kwargs)
    text = await data.spend_csv(warehouse.pool, SCOPE_A, **kwargs)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(table.rows)
    money = [r[c] for r in rows for c in ("provider_cost", "markup", "customer_cost", "savings")]
    assert all(re.fullmatch(r"-?\d+\.\d{12}", m) for m in money), money  # never 0E-12
    assert any(Decimal(m) == 0 for m in money)  # a zero is printed as 0.000000000000
    assert sum(Decimal(r["customer_cost"]) for r in rows) == table.totals.customer_cost


async def test_charts_are_accessible_svg_without_script(warehouse: Warehouse) -> None:
    overview = await data.overview(warehouse.pool, SCOPE_A, today=TODAY)
    table = await data.spend(
        warehouse.pool, SCOPE_A, grain="day", by="team", start=TODAY - timedelta(days=19), end=TODAY
    )
    start = datetime.combine(TODAY - timedelta(days=20), time(), UTC)
    perf = await data.provider_performance(
        warehouse.pool, SCOPE_A, since=start, until=start + timedelta(days=21)
    )
    for svg in (
        charts.daily_spend_chart(overview.daily),
        charts.spend_chart(table),
        charts.performance_chart(perf, "p95_latency_ms"),
        charts.performance_chart(perf, "availability"),
    ):
        assert svg.startswith("<svg") and 'role="img"' in svg and "aria-labelledby" in svg
        assert "<desc id=" in svg and "<title id=" in svg and "<script" not in svg
    assert "$" in charts.daily_spend_chart(overview.daily)


async def test_an_encrypted_payload_is_read_through_the_customers_data_key(warehouse: Warehouse) -> None:
    """Sealed as the gateway seals it; shown only to a scope that shows payloads, with the keys."""
    keys = DataKeys(warehouse.pool, KeyRing(new_master_key()))
    key = await keys.current(A)
    request_id = f"{A}-sealed-1"
    prompt = dumps(request_to_json(ChatRequest("gpt-4o-mini", [ChatMessage("user", "what is my balance?")])))
    completion = dumps({"text": "It is 42."})
    p_nonce, p_cipher = key.seal(prompt.decode(), f"{request_id}:prompt")
    c_nonce, c_cipher = key.seal(completion.decode(), f"{request_id}:completion")
    base = failover_request(A)
    event = base.model_copy(
        update={
            "request_id": request_id,
            "cost": base.cost.model_copy(update={"cost_event_id": f"{request_id}:cost"}),
            "payload": PayloadEvent(
                retention_mode="encrypted",
                prompt_sha256=hashlib.sha256(prompt).digest(),
                completion_sha256=hashlib.sha256(completion).digest(),
                data_key_id=key.key_id,
                prompt_nonce=p_nonce,
                prompt_ciphertext=p_cipher,
                completion_nonce=c_nonce,
                completion_ciphertext=c_cipher,
            ),
        }
    )
    await VaultLoader(warehouse.pool).load(batch_from_events([event]))

    shown = await data.request_detail(
        warehouse.pool, Scope.customer(A, show_payloads=True), request_id, keys=keys
    )
    assert shown is not None and shown.payload.shown
    assert shown.payload.messages == (("user", "what is my balance?"),)
    assert shown.payload.completion == "It is 42."
    hidden = await data.request_detail(warehouse.pool, SCOPE_A, request_id, keys=keys)
    assert hidden is not None and not hidden.payload.shown and hidden.payload.retention == "encrypted"
    assert hidden.payload.messages == () and "role" in (hidden.payload.note or "")
    no_keys = await data.request_detail(warehouse.pool, Scope.customer(A, show_payloads=True), request_id)
    assert no_keys is not None and not no_keys.payload.shown
    other = await data.request_detail(
        warehouse.pool, Scope.customer("globex", show_payloads=True), request_id, keys=keys
    )
    assert other is None
