"""The warehouse on realistic synthetic traffic: one load, one real ``dbt build`` (every model,
seed, data test and unit test), then the marts must answer the seed's questions exactly as the
events say — spend by customer/provider/model/day, p95 latency per provider per 5 minutes,
chargeback per team, the draft invoice — and a mid-month price change is costed at each
request's own price."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from gateway.admin.customers import CustomerConfig, create_customer
from warehouse.events import RequestEvent
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import PriceChange, synthetic_events

CHANGE = PriceChange(datetime(2026, 10, 15, 12, tzinfo=UTC), Decimal("5"), Decimal("20"))
EVENTS = list(
    synthetic_events(
        1500,
        seed=21,
        customer_names=["acme", "globex", "initech"],
        realistic=True,
        price_changes={("openai", "gpt-4o"): CHANGE},
    )
)
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
async def built(module_pool: asyncpg.Pool, module_dbt) -> str:
    await create_customer(
        module_pool,
        "acme",
        CustomerConfig(
            display_name="Acme",
            tier="premium",
            subscribed_services=("analytics", "smart_routing"),
            tax_rate_pct=Decimal("10"),
        ),
        changed_by="test",
    )
    await create_customer(module_pool, "globex", CustomerConfig(display_name="Globex"), changed_by="test")
    # Two loads: the old and the new gpt-4o price are two price versions (a load keeps one per key).
    loader = VaultLoader(module_pool)
    await loader.load(batch_from_events(e for e in EVENTS if e.request_ts < CHANGE.at))
    await loader.load(batch_from_events(e for e in EVENTS if e.request_ts >= CHANGE.at))
    return module_dbt("build").stdout


def charged(events: list[RequestEvent]) -> list[RequestEvent]:
    return [e for e in events if e.cost is not None]


def not_cached(events: list[RequestEvent]) -> list[RequestEvent]:
    """Charged events billed as usage (cache hits have an invoice line of their own)."""
    return [e for e in charged(events) if e.cost.optimisation != "cache_exact"]


async def test_dbt_build_passes_every_model_and_test(built: str) -> None:
    assert "ERROR=0" in built and "Completed successfully" in built
    passed = int(built.rsplit("PASS=", 1)[1].split()[0])
    assert passed > 300  # sources, 50+ models, seeds, data tests, unit tests


async def test_spend_by_customer_provider_model_day(built: str, module_pool: asyncpg.Pool) -> None:
    expected: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    for e in EVENTS:
        key = (e.customer, e.provider, e.model, e.request_ts.date())
        expected[key][0] += 1
        expected[key][1] += e.cost.customer_cost if e.cost else Decimal(0)
    rows = await module_pool.fetch(
        "select customer_slug, provider, model, usage_date, sum(requests) as requests, "
        "sum(customer_cost) as cost from marts.spend_daily group by 1, 2, 3, 4"
    )
    got = {
        (r["customer_slug"], r["provider"], r["model"], r["usage_date"]): [r["requests"], r["cost"]]
        for r in rows
    }
    assert got == dict(expected)
    monthly = await module_pool.fetchval("select sum(customer_cost) from marts.spend_monthly")
    assert monthly == sum(e.cost.customer_cost for e in charged(EVENTS))


def percentile_cont(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


async def test_p95_latency_per_provider_per_5_minutes(built: str, module_pool: asyncpg.Pool) -> None:
    tries: dict[tuple, list] = defaultdict(list)
    for e in EVENTS:
        for a in e.attempts:
            start = a.started_ts - timedelta(
                minutes=a.started_ts.minute % 5,
                seconds=a.started_ts.second,
                microseconds=a.started_ts.microsecond,
            )
            tries[(start, a.provider, a.model)].append(a)
    rows = await module_pool.fetch("select * from marts.provider_performance_5m")
    assert len(rows) == len(tries)
    for r in rows:
        window = tries[(r["window_start"], r["provider"], r["model"])]
        ok = [a.latency_ms for a in window if a.outcome == "success"]
        assert r["attempts"] == len(window)
        assert r["failures"] == len(window) - len(ok)
        assert r["failures_timeout"] == sum(a.error_class == "timeout" for a in window)
        if ok:
            assert float(r["p95_latency_ms"]) == pytest.approx(percentile_cont(ok, 0.95), abs=1e-6)
        else:
            assert r["p95_latency_ms"] is None
    assert any(r["failures_rate_limited"] for r in rows) and any(r["failures_server_error"] for r in rows)


async def test_chargeback_per_team_adds_up_to_the_invoices(built: str, module_pool: asyncpg.Pool) -> None:
    by_team = await module_pool.fetch(
        "select customer_slug, x_team, sum(billed_cost) as cost from marts.chargeback "
        "where x_line_type = 'usage' and x_allocation_method <> 'rounding' group by 1, 2"
    )
    expected: dict[tuple, Decimal] = defaultdict(Decimal)
    for e in not_cached(EVENTS):
        expected[(e.customer, e.tags.get("team", "unallocated"))] += e.cost.customer_cost
    # each team is charged exactly what its requests cost ...
    assert {(r["customer_slug"], r["x_team"]): r["cost"] for r in by_team} == expected
    # ... and each line's rounding to cents is one row of its own, less than a cent
    rounding = await module_pool.fetch(
        "select x_invoice_id, x_line_key, x_team, x_end_user, charge_category, billed_cost "
        "from marts.chargeback where x_allocation_method = 'rounding'"
    )
    assert rounding and all(abs(r["billed_cost"]) <= CENT / 2 for r in rounding)
    assert {(r["x_team"], r["x_end_user"], r["charge_category"]) for r in rounding} == {
        ("unallocated", "unallocated", "Adjustment")
    }
    assert len({(r["x_invoice_id"], r["x_line_key"]) for r in rounding}) == len(rounding)
    totals = await module_pool.fetch(
        "select i.invoice_id, i.subtotal, sum(c.billed_cost) as allocated from marts.invoices i "
        "join marts.chargeback c on c.x_invoice_id = i.invoice_id group by 1, 2"
    )
    assert totals and all(r["subtotal"] == r["allocated"] for r in totals)
    shared = await module_pool.fetch(
        "select x_team, sum(billed_cost) as cost from marts.chargeback "
        "where x_invoice_id = 'acme/2026-10' and x_line_type = 'subscription' group by 1"
    )
    assert sum(r["cost"] for r in shared) == Decimal("150.00")
    assert len(shared) > 1  # shared costs are spread over the teams, not dumped on one
    # acme's configuration was loaded this month: this month is billed its subscriptions, with
    # no usage to share them by, so they sit in the unallocated bucket
    this_month = datetime.now(UTC).strftime("%Y-%m")
    alone = await module_pool.fetch(
        "select x_team, x_allocation_method, billed_cost from marts.chargeback where x_invoice_id = $1",
        f"acme/{this_month}",
    )
    assert {(r["x_team"], r["x_allocation_method"]) for r in alone} == {("unallocated", "unallocated")}
    assert sum(r["billed_cost"] for r in alone) == Decimal("150.00")


async def test_the_draft_invoice(built: str, module_pool: asyncpg.Pool) -> None:
    invoice = await module_pool.fetchrow("select * from marts.invoices where invoice_id = 'acme/2026-10'")
    lines = await module_pool.fetch(
        "select * from marts.invoice_lines where invoice_id = 'acme/2026-10' order by line_no"
    )
    acme = [e for e in charged(EVENTS) if e.customer == "acme"]
    assert invoice["status"] == "draft" and invoice["finalised_at"] is None
    assert invoice["usage_customer_cost_exact"] == sum(e.cost.customer_cost for e in acme)
    usage = [r for r in lines if r["line_type"] == "usage"]
    billed = [e for e in acme if e.cost.optimisation != "cache_exact"]
    assert [(r["provider"], r["model"]) for r in usage] == sorted({(e.provider, e.model) for e in billed})
    for r in usage:
        exact = sum(
            e.cost.customer_cost for e in billed if (e.provider, e.model) == (r["provider"], r["model"])
        )
        assert r["amount_exact"] == exact
        assert r["amount"] == exact.quantize(CENT, rounding="ROUND_HALF_UP")
    hits = [e for e in acme if e.cost.optimisation == "cache_exact"]
    [cache] = [r for r in lines if r["line_type"] == "cache"]
    assert (cache["quantity"], cache["unit"]) == (len(hits), "requests")
    assert cache["amount_exact"] == sum(e.cost.customer_cost for e in hits)
    subscriptions = [(r["description"], r["amount"]) for r in lines if r["line_type"] == "subscription"]
    assert subscriptions == [
        ("Real-time Analytics Dashboard", Decimal("50.00")),
        ("Smart Routing & Optimization", Decimal("100.00")),
    ]
    assert [r["line_no"] for r in lines] == list(range(1, len(lines) + 1))
    assert invoice["subtotal"] == sum(r["amount"] for r in lines)
    assert invoice["tax"] == (invoice["subtotal"] * Decimal("0.10")).quantize(CENT, rounding="ROUND_HALF_UP")
    assert invoice["total"] == invoice["subtotal"] + invoice["tax"]
    initech = await module_pool.fetchrow("select * from marts.invoices where customer_slug = 'initech'")
    assert initech["tax_rate_pct"] == 0 and initech["currency"] == "USD"  # no configuration: defaults


async def test_a_mid_month_price_change_costs_each_request_at_its_own_price(
    built: str, module_pool: asyncpg.Pool
) -> None:
    rows = await module_pool.fetch(
        "select event_ts, pit_input_per_mtok, pit_output_per_mtok, recomputed_provider_cost, "
        "provider_cost, is_cost_mismatch from business_vault.sat_cost_event_computed "
        "where provider = 'openai' and model = 'gpt-4o' and optimisation <> 'cache_exact'"
    )
    before = [r for r in rows if r["event_ts"] < CHANGE.at]
    after = [r for r in rows if r["event_ts"] >= CHANGE.at]
    assert before and after
    assert {(r["pit_input_per_mtok"], r["pit_output_per_mtok"]) for r in before} == {
        (Decimal("2.5"), Decimal("10"))
    }
    assert {(r["pit_input_per_mtok"], r["pit_output_per_mtok"]) for r in after} == {
        (Decimal("5"), Decimal("20"))
    }
    assert all(
        r["recomputed_provider_cost"] == r["provider_cost"] and not r["is_cost_mismatch"] for r in rows
    )
    daily = await module_pool.fetch(
        "select usage_date, sum(provider_cost) as cost from marts.spend_daily "
        "where provider = 'openai' and model = 'gpt-4o' group by 1"
    )
    expected: dict = defaultdict(Decimal)
    for e in not_cached(EVENTS):
        if (e.provider, e.model) == ("openai", "gpt-4o"):
            price_in, price_out = (
                (CHANGE.input_per_mtok, CHANGE.output_per_mtok)
                if e.request_ts >= CHANGE.at
                else (Decimal("2.5"), Decimal("10"))
            )
            tokens = e.cost.tokens
            expected[e.request_ts.date()] += (
                tokens.input_tokens * price_in + tokens.output_tokens * price_out
            ) / 10**6
    assert {r["usage_date"]: r["cost"] for r in daily} == dict(expected)


async def test_savings_by_optimisation_kind(built: str, module_pool: asyncpg.Pool) -> None:
    rows = await module_pool.fetch(
        "select customer_slug, optimisation, sum(requests) as requests, sum(baseline_cost) as baseline, "
        "sum(actual_cost) as actual, sum(savings) as savings from marts.savings group by 1, 2"
    )
    expected: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
    for e in charged(EVENTS):
        row = expected[(e.customer, e.cost.optimisation)]
        row[0] += 1
        row[1] += e.cost.baseline_cost if e.cost.baseline_cost is not None else e.cost.provider_cost
        row[2] += e.cost.provider_cost
    got = {(r["customer_slug"], r["optimisation"]): [r["requests"], r["baseline"], r["actual"]] for r in rows}
    assert got == dict(expected)
    assert {o for _, o in got} == {"none", "routing", "cache_exact"}
    assert all(r["savings"] > 0 for r in rows if r["optimisation"] != "none")


async def test_a_changed_price_is_flagged(built: str, module_pool: asyncpg.Pool) -> None:
    """The computed satellite flags a cost the price history cannot reproduce (none here)."""
    flagged = await module_pool.fetchval(
        "select count(*) from business_vault.sat_cost_event_computed where is_cost_mismatch"
    )
    assert flagged == 0


async def test_dbt_docs_generate(built: str, module_dbt) -> None:
    done = module_dbt("docs", "generate")
    assert "Catalog written" in done.stdout
