"""Tenant isolation of the console's query layer, tested by trying: every function called in
customer A's scope — with B's request ids, invoice ids, key ids and filters too — returns only
A's rows or nothing; an operator reads both; platform pages refuse a customer scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.console import data
from gateway.console.data import Scope, SpendFilters
from gateway.console.data.scope import ScopedQuery, ScopeNotApplied
from tests.console.data.conftest import TODAY, A, B, Warehouse

pytestmark = pytest.mark.xdist_group("dbt_target")

SCOPE_A = Scope.customer(A)
OPERATOR = Scope.operator()
SINCE = datetime(2026, 9, 1, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)


async def test_a_query_without_its_scope_predicate_refuses_to_run(warehouse: Warehouse) -> None:
    with pytest.raises(ScopeNotApplied):
        await ScopedQuery(SCOPE_A).fetch(warehouse.pool, "select 1")
    with pytest.raises(PermissionError):
        ScopedQuery(SCOPE_A).platform_wide()


async def test_overview_counts_only_the_scopes_requests(warehouse: Warehouse) -> None:
    mine = await data.overview(warehouse.pool, SCOPE_A, today=TODAY)
    every = await data.overview(warehouse.pool, OPERATOR, today=TODAY)
    october = [e for e in warehouse.of(A, fresh=False) if e.request_ts.date() <= TODAY]
    assert mine.requests_month == len(october)
    assert mine.spend_month == sum(e.cost.customer_cost for e in october if e.cost)
    assert every.requests_month == len([e for e in warehouse.built if e.request_ts.date() <= TODAY])
    assert {b.customer_slug for b in mine.budgets} <= {A}
    assert {k.name for k in mine.top_keys} <= {f"{A}-key-0", f"{A}-key-1"}
    assert len(mine.daily) == 30 and mine.daily[-1].day == TODAY


async def test_spend_never_shows_another_customer(warehouse: Warehouse) -> None:
    for by in data.DIMENSIONS:
        table = await data.spend(
            warehouse.pool, SCOPE_A, grain="day", by=by, start=TODAY - timedelta(days=40), end=TODAY
        )
        assert table.rows, by
        if by == "customer":
            assert {r.value for r in table.rows} == {A}
        if by == "key":
            assert all(r.value is None or r.value.startswith(A) for r in table.rows)
    for filters in (SpendFilters(customer=B), SpendFilters(key=f"{B}-key-0")):
        table = await data.spend(
            warehouse.pool,
            SCOPE_A,
            grain="month",
            by="model",
            start=TODAY.replace(day=1),
            end=TODAY,
            filters=filters,
        )
        assert table.rows == ()
    both = await data.spend(warehouse.pool, OPERATOR, grain="month", by="customer", start=TODAY, end=TODAY)
    assert {r.value for r in both.rows} == {A, B}
    teams = await data.spend(warehouse.pool, OPERATOR, grain="day", by="team", start=TODAY, end=TODAY)
    assert teams.needs_customer and teams.rows == ()  # teams are each customer's own
    teams = await data.spend(
        warehouse.pool,
        OPERATOR,
        grain="day",
        by="team",
        start=TODAY,
        end=TODAY,
        filters=SpendFilters(customer=B),
    )
    assert teams.rows and not teams.needs_customer


async def test_request_log_and_detail_never_show_another_customer(warehouse: Warehouse) -> None:
    pool = warehouse.pool
    page = await data.request_log(pool, SCOPE_A, query=data.RequestQuery(limit=500))
    expected = {e.request_id for e in warehouse.of(A)}
    assert {r.request_id for r in page.rows} == expected
    for query in (
        data.RequestQuery(customer=B),
        data.RequestQuery(key=f"{B}-key-0"),
        data.RequestQuery(request_id=f"{B}-failover-1"),
        data.RequestQuery(request_id=warehouse.of(B)[0].request_id),
    ):
        assert (await data.request_log(pool, SCOPE_A, query=query)).rows == ()
    for event in warehouse.of(B)[:20]:
        assert await data.request_detail(pool, SCOPE_A, event.request_id) is None
        assert await data.request_detail(pool, OPERATOR, event.request_id) is not None
    everyone = await data.request_log(pool, OPERATOR, query=data.RequestQuery(limit=500))
    assert {r.customer_slug for r in everyone.rows} == {A, B}


async def test_invoices_never_show_another_customer(warehouse: Warehouse) -> None:
    mine = await data.invoices(warehouse.pool, SCOPE_A)
    assert mine and {i.customer_slug for i in mine} == {A}
    theirs = [i.invoice_id for i in await data.invoices(warehouse.pool, Scope.customer(B))]
    assert theirs
    for invoice_id in theirs:
        assert await data.invoice(warehouse.pool, SCOPE_A, invoice_id) is None
        assert await data.invoice(warehouse.pool, OPERATOR, invoice_id) is not None
    doc = await data.invoice(warehouse.pool, SCOPE_A, mine[0].invoice_id)
    assert doc is not None and doc.customer == A and doc.lines


async def test_budgets_alerts_and_customers_never_show_another_customer(warehouse: Warehouse) -> None:
    page = await data.budgets_with_deliveries(warehouse.pool, SCOPE_A, today=TODAY)
    assert {b.customer_slug for b in page.budgets} == {A} and len(page.budgets) == 2
    assert {d.customer_slug for d in page.deliveries} == {A} and len(page.deliveries) == 1
    every = await data.budgets_with_deliveries(warehouse.pool, OPERATOR, today=TODAY)
    assert {d.customer_slug for d in every.deliveries} == {A, B}
    assert [c.slug for c in await data.customers(warehouse.pool, SCOPE_A)] == [A]
    assert [c.slug for c in await data.customers(warehouse.pool, OPERATOR)] == [A, B]


async def test_keys_last_used_never_shows_another_customers_keys(warehouse: Warehouse) -> None:
    last = await data.keys_last_used(warehouse.pool, SCOPE_A)
    expected: dict[str, datetime] = {}
    for e in warehouse.of(A):  # built and just loaded (the vault's tail)
        if e.gateway_key_id:
            expected[e.gateway_key_id] = max(expected.get(e.gateway_key_id, e.request_ts), e.request_ts)
    assert last == expected
    every = await data.keys_last_used(warehouse.pool, OPERATOR)
    assert set(every) > set(last) and all(k.startswith((A, B)) for k in every)


async def test_platform_pages_refuse_a_customer_scope(warehouse: Warehouse) -> None:
    with pytest.raises(PermissionError):
        await data.platform_spend(warehouse.pool, SCOPE_A, month=TODAY)
    with pytest.raises(PermissionError):
        await data.loader_health(warehouse.pool, SCOPE_A)
    with pytest.raises(PermissionError):
        await data.billing_runs(warehouse.pool, SCOPE_A)
    spend = await data.platform_spend(warehouse.pool, OPERATOR, month=TODAY)
    assert {s.customer_slug for s in spend} == {A, B}
    health = await data.loader_health(warehouse.pool, OPERATOR)
    assert health.newest_request_ts is not None and health.marts_built_at is not None


async def test_provider_performance_hides_platform_volumes_from_a_customer(warehouse: Warehouse) -> None:
    mine = await data.provider_performance(warehouse.pool, SCOPE_A, since=SINCE, until=UNTIL)
    assert mine.summaries and not mine.volumes_shown
    assert all(s.attempts is None and s.cost_per_1k_tokens is None for s in mine.summaries)
    assert all(p.attempts is None for p in mine.points)
    ops = await data.provider_performance(warehouse.pool, OPERATOR, since=SINCE, until=UNTIL)
    assert all(s.attempts for s in ops.summaries)
    assert [s.p95_latency_ms for s in ops.summaries] == [s.p95_latency_ms for s in mine.summaries]
