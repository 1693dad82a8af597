"""Spend anomalies end to end: five weeks of steady hourly traffic for three customers, then on
the last day a planted spike (one customer's 10:00 hour at ten times its usual requests) and a
planted drop (another's 09:00 hour nearly silent). After a cold build of the first 34 days
nothing is flagged (steady traffic, the hour-of-week baseline absorbs the noise); after the last
day is loaded and dbt refreshes incrementally, exactly the spike and the drop are flagged (and a
full rebuild agrees). The flags go out once as signed ``spend.anomaly`` webhooks through the alert
worker and are remembered in the vault, and ``onevault anomalies list`` shows them."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from gateway.admin.customers import CustomerConfig, create_customer
from gateway.alerts.anomalies import TYPE, queue_new_anomalies
from gateway.alerts.signing import HEADER, verify
from gateway.alerts.webhook_secrets import create_webhook_secret
from gateway.alerts.worker import AlertWorker
from gateway.cli.main import app as cli_app
from gateway.crypto import KeyRing
from gateway.crypto.envelope import new_master_key
from gateway.egress import EgressPolicy
from warehouse.anomalies import list_anomalies, unsent_anomalies
from warehouse.embedded import RedisEndpoint
from warehouse.events import RequestEvent
from warehouse.loader import VaultLoader
from warehouse.mapping import batch_from_events
from warehouse.settings import get_settings
from warehouse.synthetic import synthetic_events

START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
DAYS = 35
HOURS = (9, 10, 11)
LAST = START + timedelta(days=DAYS - 1)
SPIKE = ("spiky", LAST + timedelta(hours=10), 250)
DROP = ("droppy", LAST + timedelta(hours=9), 2)
CUSTOMERS = ("steady", "spiky", "droppy")
URL = "http://127.0.0.1:9/hook"  # never connected to: the worker gets a mock transport
EGRESS = EgressPolicy.parse("127.0.0.1")

# One priced gpt-4o request (about a cent) as the template of every request.
TEMPLATE = next(
    e
    for e in synthetic_events(400, seed=9)
    if e.provider == "openai"
    and e.model == "gpt-4o"
    and e.cost is not None
    and e.cost.customer_cost > 0.008
    and len(e.attempts) == 1
)


def _request(customer: str, ts: datetime, n: int) -> RequestEvent:
    rid = f"anom-{customer}-{ts:%Y%m%d%H}-{n:04d}"
    at = ts + timedelta(seconds=n)
    assert TEMPLATE.cost is not None
    return TEMPLATE.model_copy(
        update={
            "request_id": rid,
            "request_ts": at,
            "completed_ts": at,
            "customer": customer,
            "gateway_key_id": f"{customer}-key",
            "end_user": None,
            "tags": {},
            "attempts": [a.model_copy(update={"started_ts": at}) for a in TEMPLATE.attempts],
            "cost": TEMPLATE.cost.model_copy(update={"cost_event_id": f"{rid}:cost", "event_ts": at}),
        }
    )


def traffic(days: range) -> list[RequestEvent]:
    """22-28 requests an hour (deterministic noise) at 09-11 UTC, the planted hours excepted."""
    rng = random.Random(5)
    out = []
    for day in range(DAYS):
        for customer in CUSTOMERS:
            for hour in HOURS:
                ts = START + timedelta(days=day, hours=hour)
                count = rng.randint(22, 28)
                for planted, at, n in (SPIKE, DROP):
                    if (customer, ts) == (planted, at):
                        count = n
                if day in days:
                    out += [_request(customer, ts, i) for i in range(count)]
    return out


def flags(rows: list[asyncpg.Record]) -> set[tuple[str, datetime, str]]:
    return {(r["customer_slug"], r["hour_start"], r["anomaly"]) for r in rows if r["anomaly"]}


MART = "select * from marts.spend_anomalies"


@pytest.fixture(scope="module")
async def built(module_pool: asyncpg.Pool, module_dbt) -> dict:
    keyring = KeyRing(new_master_key())
    secrets = {}
    for customer in CUSTOMERS:
        config = CustomerConfig(display_name=customer.title(), budget_webhook_url=URL)
        await create_customer(module_pool, customer, config, changed_by="test", egress=EGRESS)
        made = await create_webhook_secret(module_pool, keyring, customer, changed_by="test")
        secrets[customer] = made["webhook_secret"]
    loader = VaultLoader(module_pool)
    await loader.load(batch_from_events(traffic(range(DAYS - 1))))
    cold = module_dbt("build", "--select", "+spend_anomalies", "--indirect-selection", "cautious").stdout
    before = await module_pool.fetch(MART)
    await loader.load(batch_from_events(traffic(range(DAYS - 1, DAYS))))
    module_dbt("run", "--select", "+spend_anomalies")
    incremental = await module_pool.fetch(MART)
    module_dbt("run", "--select", "spend_hourly", "spend_anomalies", "--full-refresh")
    full = await module_pool.fetch(MART)
    return {
        "cold": cold,
        "before": before,
        "incremental": incremental,
        "full": full,
        "keyring": keyring,
        "secrets": secrets,
    }


async def test_the_build_passes_the_models_tests_and_unit_test(built: dict) -> None:
    assert "ERROR=0" in built["cold"], built["cold"][-3000:]
    assert "spend_anomalies_flags_a_spike_and_a_drop_not_a_wobble" in built["cold"]


async def test_steady_traffic_is_not_flagged(built: dict) -> None:
    before = built["before"]
    assert len(before) > 3 * len(HOURS) * 6  # a week of hours judged, for every customer
    assert all(r["baseline_weeks"] >= 2 for r in before if r["hour_start"] >= START + timedelta(days=14))
    assert flags(before) == set()
    assert not any(r["anomaly"] for r in built["incremental"] if r["customer_slug"] == "steady")


async def test_the_planted_spike_and_drop_are_flagged_after_an_incremental_refresh(built: dict) -> None:
    expected = {(SPIKE[0], SPIKE[1], "spike"), (DROP[0], DROP[1], "drop")}
    assert flags(built["incremental"]) == expected
    assert flags(built["full"]) == expected
    spike = next(r for r in built["incremental"] if r["anomaly"] == "spike")
    assert spike["requests"] == 250 and spike["baseline_weeks"] == 4
    assert 22 <= spike["requests_median"] <= 28 and spike["requests_flag"] == "spike"
    assert spike["spend_flag"] == "spike"  # 250 requests of about a cent: past the 1.00 minimum
    drop = next(r for r in built["incremental"] if r["anomaly"] == "drop")
    assert drop["requests"] == 2 and drop["requests_flag"] == "drop" and drop["is_complete_hour"]
    assert drop["spend_flag"] is None  # ~0.25 an hour is below the minimum spend volume
    # the incremental mart judges the last week exactly as a full rebuild does
    week = SPIKE[1] - timedelta(days=6)

    def key(rows: list[asyncpg.Record]) -> dict:
        return {
            (r["hour_start"], r["grain_key"]): (r["requests"], r["requests_median"], r["anomaly"])
            for r in rows
            if r["hour_start"] >= week
        }

    assert key(built["incremental"]) == key(built["full"])


async def test_new_flags_are_sent_once_as_signed_webhooks_and_remembered(
    built: dict, module_pool: asyncpg.Pool, redis_client: aioredis.Redis
) -> None:
    stream = f"test:anomalies:{id(built)}"
    received: list[dict] = []

    def hook(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if not verify(built["secrets"][body["customer"]], request.headers.get(HEADER, ""), request.content):
            return httpx.Response(401)
        received.append(body)
        return httpx.Response(204)

    assert {a.anomaly_id for a in await unsent_anomalies(module_pool)} == {
        r["anomaly_id"] for r in built["full"] if r["anomaly"]
    }
    assert await queue_new_anomalies(module_pool, redis_client, stream) == 2
    assert await queue_new_anomalies(module_pool, redis_client, stream) == 0  # claimed
    worker = AlertWorker(redis_client, module_pool, built["keyring"], stream=stream, egress=EGRESS)
    async with httpx.AsyncClient(transport=httpx.MockTransport(hook)) as client:
        for _ in range(20):
            await worker.step(client, block_ms=100)
            if len(received) == 2:
                break
            await asyncio.sleep(0.05)
    assert sorted((b["type"], b["customer"], b["kind"]) for b in received) == [
        (TYPE, "droppy", "drop"),
        (TYPE, "spiky", "spike"),
    ]
    spike = next(b for b in received if b["kind"] == "spike")
    assert spike["alert_id"] == f"spiky|spiky-key|openai/gpt-4o|{SPIKE[1]:%Y-%m-%dT%H}:00Z|spike"
    assert spike["requests"] == 250 and spike["hour_start"] == SPIKE[1].isoformat()
    rows = await module_pool.fetch(
        "select h.anomaly_alert_bk, s.kind, s.outcome, s.requests "
        "from raw_vault.sat_anomaly_alert_delivery s "
        "join raw_vault.hub_anomaly_alert h using (anomaly_alert_hk)"
    )
    assert sorted((r["kind"], r["outcome"]) for r in rows) == [("drop", "delivered"), ("spike", "delivered")]
    assert await unsent_anomalies(module_pool) == []  # sent: no longer new for the check


async def test_cli_lists_the_customers_anomalies_only(
    built: dict,
    module_dsn: str,
    module_pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisEndpoint,
) -> None:
    monkeypatch.setenv("ONEVAULT_DATABASE_URL", module_dsn)
    monkeypatch.setenv("ONEVAULT_REDIS_URL", redis_server.url)  # never an embedded one on the default port
    get_settings.cache_clear()
    try:
        shown = await asyncio.to_thread(CliRunner().invoke, cli_app, ["anomalies", "list", "spiky"])
        as_json = await asyncio.to_thread(
            CliRunner().invoke,
            cli_app,
            ["anomalies", "list", "spiky", "--since", f"{LAST:%Y-%m-%d}", "--json"],
        )
        later = await asyncio.to_thread(
            CliRunner().invoke,
            cli_app,
            ["anomalies", "list", "spiky", "--since", f"{LAST + timedelta(days=1):%Y-%m-%d}"],
        )
        steady = await asyncio.to_thread(CliRunner().invoke, cli_app, ["anomalies", "list", "steady"])
    finally:
        get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    assert f"{SPIKE[1]:%Y-%m-%d %H}:00Z  spike" in shown.output and "spiky-key" in shown.output
    assert "droppy" not in shown.output
    data = json.loads(as_json.output)
    assert [(d["anomaly"], d["requests"]) for d in data] == [("spike", 250)]
    assert "no anomalies" in later.output and "no anomalies" in steady.output
    assert [a.anomaly for a in await list_anomalies(module_pool, "droppy")] == ["drop"]
