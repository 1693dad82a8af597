"""Two customers' traffic in one vault with the marts built once per module, then a few more
requests loaded after the build (the request log must show them before the next refresh)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from gateway.admin.budgets import set_budget
from gateway.admin.customers import CustomerConfig, create_customer
from tests.dbt.conftest import module_dbt, module_pool  # noqa: F401  (fixtures)
from warehouse import tables as t
from warehouse.batch import VaultBatch
from warehouse.events import AttemptEvent, CostEvent, PayloadEvent, RequestEvent, TokenCounts
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.synthetic import synthetic_events

A, B = "acme", "globex"
START = datetime(2026, 10, 1, tzinfo=UTC)
TODAY = date(2026, 10, 20)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def failover_request(customer: str) -> RequestEvent:
    """A request that failed over from openai (429) to anthropic, tagged, its payload hashed."""
    ts = datetime(2026, 10, 18, 12, tzinfo=UTC)
    usage = TokenCounts(input_tokens=1000, output_tokens=200)
    return RequestEvent(
        request_id=f"{customer}-failover-1",
        request_ts=ts,
        completed_ts=ts + timedelta(seconds=2),
        endpoint="/v1/chat/completions",
        customer=customer,
        gateway_key_id=f"{customer}-key-0",
        provider="anthropic",
        model="claude-3-5-haiku-latest",
        requested_provider="openai",
        requested_model="gpt-4o-mini",
        status="success",
        http_status=200,
        latency_ms=1900.0,
        route_reason="failover after rate_limited",
        cache_status="miss",
        usage=usage,
        pii_actions=["email:redacted"],
        tags={"team": "ml", "project": "p1"},
        attempts=[
            AttemptEvent(
                attempt_no=1,
                provider="openai",
                model="gpt-4o-mini",
                started_ts=ts,
                latency_ms=120.0,
                outcome="error",
                http_status=429,
                error_class="rate_limited",
                error_message="slow down",
            ),
            AttemptEvent(
                attempt_no=2,
                provider="anthropic",
                model="claude-3-5-haiku-latest",
                started_ts=ts + timedelta(milliseconds=200),
                latency_ms=1700.0,
                outcome="success",
                http_status=200,
                input_tokens=1000,
                output_tokens=200,
            ),
        ],
        cost=CostEvent(
            cost_event_id=f"{customer}-failover-1:cost",
            event_ts=ts,
            tokens=usage,
            input_per_mtok=Decimal("0.8"),
            output_per_mtok=Decimal("4"),
            price_source="test",
            is_priced=True,
            provider_cost=Decimal("0.001600000000"),
            markup_pct=Decimal("20"),
            markup_amount=Decimal("0.000320000000"),
            customer_cost=Decimal("0.001920000000"),
        ),
        payload=PayloadEvent(
            retention_mode="hash", prompt_sha256=_digest("prompt"), completion_sha256=_digest("completion")
        ),
    )


def delivery_batch(customer: str) -> VaultBatch:
    """One budget-alert webhook delivery, as the alert worker records it."""
    batch = VaultBatch()
    alert_id = f"customer:{customer}|daily|2026-10-18|80"
    hk = batch.hub(t.HUB_BUDGET_ALERT, alert_id, record_source="alerts")
    ck = batch.hub(t.HUB_CUSTOMER, customer, record_source="alerts")
    batch.link(t.LNK_BUDGET_ALERT_CUSTOMER, (hk, ck), (alert_id, customer), record_source="alerts")
    batch.sat(
        t.SAT_BUDGET_ALERT_DELIVERY,
        hk,
        (
            f"customer:{customer}",
            "daily",
            date(2026, 10, 18),
            80,
            Decimal("10"),
            Decimal("8.5"),
            f"https://{customer}.example/hook",
            datetime(2026, 10, 18, 13, tzinfo=UTC),
            200,
            "delivered",
            None,
        ),
        record_source="alerts",
        sub_key=1,
    )
    return batch


@dataclass(frozen=True, slots=True)
class Warehouse:
    pool: asyncpg.Pool
    built: list[RequestEvent]  # in the marts
    fresh: list[RequestEvent]  # loaded after the dbt build: raw vault only

    def of(self, customer: str, *, fresh: bool = True) -> list[RequestEvent]:
        events = self.built + (self.fresh if fresh else [])
        return [e for e in events if e.customer == customer]


@pytest.fixture(scope="module")
async def warehouse(module_pool: asyncpg.Pool, module_dbt) -> Warehouse:  # noqa: F811
    for slug, name in ((A, "Acme"), (B, "Globex")):
        await create_customer(module_pool, slug, CustomerConfig(display_name=name), changed_by="test")
        await set_budget(module_pool, slug, scope="customer", period="month", limit="500", changed_by="test")
        await set_budget(
            module_pool,
            slug,
            scope="tag",
            value="team=ml",
            period="day",
            limit="5",
            soft=True,
            changed_by="test",
        )
    built = [
        *synthetic_events(
            600, seed=5, customer_names=[A, B], start=START, span=timedelta(days=20), realistic=True
        ),
        failover_request(A),
        failover_request(B),
    ]
    loader = VaultLoader(module_pool)
    await loader.load(batch_from_events(built))
    for slug in (A, B):
        await loader.load(delivery_batch(slug))
    module_dbt("seed")
    module_dbt("run", "--vars", f"{{budget_forecast_as_of: '{TODAY.isoformat()}'}}")
    fresh = list(
        synthetic_events(
            12,
            seed=6,
            customer_names=[A, B],
            start=START + timedelta(days=20),
            span=timedelta(hours=1),
            prefix="fresh",
            realistic=True,
        )
    )
    await loader.load(batch_from_events(fresh))
    return Warehouse(module_pool, built, fresh)
