"""A month of realistic traffic, replayed for a past month through the gateway's own code path.

The gateway runs in this process (uvicorn on a loopback port, as ``onevault up`` serves it)
with a *shifted clock* (``GatewayConfig.clock``): each request is stamped at its simulated
time, so request and cost events, prices in force and monthly budgets all belong to that past
month, while the vault stamps ``load_dts`` honestly (now). Nothing writes marts directly.

The scenario: several customers with teams (tags) and end users, several providers and
models, an OpenAI outage mid-month that fails over to Azure OpenAI (simulator fault
injection), a dated price change for ``openai/gpt-4o-mini`` on the 15th (a price override),
a customer whose monthly budget runs out (402 ``budget_exceeded``), a postpaid customer with a
welcome credit (a credit line on its invoice) and a steady weekday batch job (the baseline the
anomaly scenario's spike is judged against, ``demo_scenarios``). There are no cache hits: the
gateway has no response cache wired into this path yet. The simulated providers bill at the
simulated time too, so their reports reconcile with what the gateway recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import uvicorn

from gateway.admin.credits import grant_credit
from gateway.admin.customers import CustomerConfig, create_customer, customer_exists
from gateway.admin.keys import create_gateway_key
from gateway.admin.rules import create_rule
from gateway.app import GatewayConfig, create_app
from gateway.cli.up import simulator_catalog
from gateway.simulator import SimulatorServer
from gateway.simulator.billing import BillingLedger
from gateway.simulator.faults import FaultMatch, FaultSpec
from warehouse.billing import Period
from warehouse.settings import Settings

OPERATOR = "demo"
_SENTENCES = (
    "summarise the quarterly spend by team and flag anomalies in provider latency for the "
    "support queue draft a reply to the customer about the invoice explain the routing rule "
    "translate this paragraph into German list three risks in the migration plan"
)
WORDS = tuple(_SENTENCES.split())


@dataclass(frozen=True, slots=True)
class SteadyJob:
    """A batch job that sends the same number of requests in one hour of every weekday."""

    team: str
    model: str
    hour: int  # UTC
    requests: int  # per run, at scale 1


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    slug: str
    name: str
    teams: tuple[str, ...]
    models: tuple[str, ...]
    per_day: int  # requests on an average weekday
    config: CustomerConfig
    steady: SteadyJob | None = None
    welcome_credit: Decimal | None = None  # granted when the customer is created
    rules: tuple[dict, ...] = ()  # routing rules created with the customer (create_rule's fields)


def scenario() -> list[DemoCustomer]:
    return [
        DemoCustomer(
            "acme",
            "Acme Corporation",
            ("search", "support", "finance"),
            ("gpt-4o-mini", "claude-3-5-haiku-latest", "gemini-1.5-flash"),
            12,
            CustomerConfig(
                display_name="Acme Corporation",
                tier="premium",
                tax_rate_pct=Decimal("19"),
                subscribed_services=("analytics", "smart_routing"),
                # Graduated markup: the invoice shows the band lines instead of a flat markup.
                markup_plan="volume",
            ),
        ),
        DemoCustomer(
            "globex",
            "Globex Industries",
            ("research", "legal"),
            ("gpt-4o", "claude-3-5-sonnet-latest", "command-r"),
            6,
            CustomerConfig(
                display_name="Globex Industries",
                tier="enterprise",
                tax_rate_pct=Decimal("8.25"),
                subscribed_services=("compliance_reporting",),
                # Value-based pricing: 20 % of what the legal team's cheaper routing saved.
                savings_share_pct=Decimal("20"),
            ),
            rules=(
                {
                    "name": "legal-cheapest",
                    "strategy": "cheapest",
                    "conditions": {"tags": {"team": "legal"}},
                    "options": {"min_quality": 70},
                },
            ),
            # The research team's 10:00 batch: the steady baseline the anomaly spike stands out from.
            steady=SteadyJob("research", "claude-3-5-sonnet-latest", 10, 4),
            # Postpaid with a grant: the invoice shows a credit line.
            welcome_credit=Decimal("0.10"),
        ),
        DemoCustomer(
            "initech",
            "Initech",
            ("ops",),
            ("gpt-4o",),
            4,
            # A small monthly budget: it runs out mid-month and the gateway refuses with 402. Not
            # the basic tier: the replay sends a month in seconds, past its 60 requests a minute.
            CustomerConfig(display_name="Initech", tier="standard", budget_monthly=Decimal("0.05")),
        ),
    ]


def price_overrides(period: Period) -> dict:
    """gpt-4o-mini at OpenAI gets dearer on the 15th: costs must use the price then in force."""
    change = period.start_ts + timedelta(days=14)
    return {
        "prices": [
            {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "input_per_mtok": "0.15",
                "output_per_mtok": "0.60",
                "valid_to": change.isoformat(),
            },
            {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "input_per_mtok": "0.20",
                "output_per_mtok": "0.80",
                "valid_from": change.isoformat(),
            },
        ]
    }


class ShiftedClock:
    """The time the gateway believes it is; the replay moves it forward request by request."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@dataclass(slots=True)
class TrafficSummary:
    period: Period
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    failovers: int = 0
    budget_refusals: Counter = field(default_factory=Counter)  # by customer
    by_customer: Counter = field(default_factory=Counter)
    outage_day: int = 0
    price_change_day: int = 15
    keys: dict[str, str] = field(default_factory=dict, repr=False)  # the month's key per customer


class _Serving:
    """uvicorn in a background thread with its own loop (the caller's loop stays free)."""

    def __init__(self, app: object, port: int) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="demo-gateway")

    def __enter__(self) -> _Serving:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the demo gateway did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _schedule(period: Period, customers: list[DemoCustomer], scale: float, rng: random.Random) -> list:
    """(timestamp, customer, team, model, end user) for every request of the month, in order."""
    plan = []
    day = period.start_ts
    while day < period.end_ts:
        weekday = day.weekday() < 5
        for c in customers:
            n = max(1, round(c.per_day * scale * (1.0 if weekday else 0.3) * rng.uniform(0.7, 1.3)))
            for _ in range(n):
                at = day + timedelta(
                    seconds=rng.randint(8 * 3600, 20 * 3600), microseconds=rng.randint(0, 999999)
                )
                team = rng.choice(c.teams)
                user = f"{team}-{rng.randint(1, 3)}@{c.slug}.example"
                plan.append((at, c, team, rng.choice(c.models), user))
            if c.steady is not None and weekday:
                job = c.steady
                runs = steady_requests(job, scale)
                for i in range(runs):
                    at = day + timedelta(hours=job.hour, seconds=i * 3000 // runs + rng.randint(0, 59))
                    plan.append((at, c, job.team, job.model, f"{job.team}-batch@{c.slug}.example"))
        day += timedelta(days=1)
    plan.sort(key=lambda p: p[0])
    return plan


def steady_requests(job: SteadyJob, scale: float) -> int:
    return max(1, round(job.requests * scale))


async def ensure_customers(pool: asyncpg.Pool, customers: list[DemoCustomer]) -> dict[str, str]:
    """Create the demo customers if missing (with their welcome credit); a fresh key for each
    (only its hash is stored)."""
    keys = {}
    for c in customers:
        if not await customer_exists(pool, c.slug):
            await create_customer(pool, c.slug, c.config, changed_by=OPERATOR)
            if c.welcome_credit is not None:
                await grant_credit(
                    pool, c.slug, c.welcome_credit, changed_by=OPERATOR, description="Welcome credit"
                )
            for rule in c.rules:
                await create_rule(pool, c.slug, changed_by=OPERATOR, **rule)
        keys[c.slug] = (await create_gateway_key(pool, c.slug, changed_by=OPERATOR, label="demo")).key
    return keys


async def recorded(pool: asyncpg.Pool, slugs: list[str]) -> int:
    return await pool.fetchval(
        "select count(*) from raw_vault.lnk_api_request_context x "
        "join raw_vault.hub_customer c on c.customer_hk = x.customer_hk where c.customer_bk = any($1)",
        slugs,
    )


def _first_weekday_from(period: Period, day: int) -> int:
    """The outage hits a working day, when traffic is heavy."""
    while (period.start + timedelta(days=day - 1)).weekday() >= 5:
        day += 1
    return day


def _write_config(
    work_dir: Path, period: Period, simulator_url: str, *, any_model: bool = False
) -> tuple[Path, Path]:
    """The demo gateway's provider catalog (all served by the simulator) and price overrides."""
    work_dir.mkdir(parents=True, exist_ok=True)
    catalog, prices = work_dir / "providers.json", work_dir / "prices.json"
    doc = simulator_catalog(simulator_url)
    for provider in doc["providers"] if any_model else ():
        provider["accept_any_model"] = True
    catalog.write_text(json.dumps(doc, indent=2))
    prices.write_text(json.dumps(price_overrides(period), indent=2))
    return catalog, prices


class ShiftedLedger(BillingLedger):
    """The simulator's bill, dated by the replay's clock: a call is billed on its simulated day."""

    def __init__(self, clock: ShiftedClock) -> None:
        super().__init__()
        self.clock = clock

    def record(
        self,
        api_style: str,
        model: str,
        api_key: str | None,
        input_tokens: int,
        cached_tokens: int,
        output_tokens: int,
        *,
        requests: int = 1,
        at: datetime | None = None,
    ) -> None:
        super().record(
            api_style, model, api_key, input_tokens, cached_tokens, output_tokens,
            requests=requests, at=at or self.clock(),
        )  # fmt: skip


@dataclass(slots=True)
class ShiftedGateway:
    """A running gateway whose clock the caller sets, the simulator behind it, and a client."""

    client: httpx.AsyncClient
    clock: ShiftedClock
    sim: SimulatorServer

    async def send(
        self,
        key: str,
        at: datetime,
        model: str,
        *,
        team: str,
        user: str,
        words: int = 20,
        max_tokens: int = 64,
    ) -> httpx.Response:
        self.clock.at = at
        return await self.client.post(
            "/v1/ai/completions",
            headers={"authorization": f"Bearer {key}"},
            json={
                "prompt": " ".join(WORDS[(i * 7) % len(WORDS)] for i in range(words)),
                "model": model,
                "max_tokens": max_tokens,
                "user": user,
                "tags": {"team": team},
            },
        )


@contextlib.asynccontextmanager
async def shifted_gateway(
    database_url: str, redis_url: str, work_dir: Path, period: Period, *, unpriced: bool = False
) -> AsyncIterator[ShiftedGateway]:
    """The real gateway app (in-process loader included) on a loopback port, its clock at
    ``period``'s start, every provider served by a fresh simulator. ``unpriced``: any model name
    is served, priced or not (both refused by default; a billing test needs unpriced usage)."""
    with SimulatorServer() as sim:
        catalog, prices = _write_config(work_dir, period, sim.url, any_model=unpriced)
        settings = Settings(
            home=work_dir,
            prices_file=prices,
            event_stream=f"onevault:demo:{uuid.uuid4().hex[:8]}",
            breaker_cooldown_s=0.5,  # simulated hours pass in milliseconds: let probes through soon
            loader_linger_ms=20,
            allow_unpriced=unpriced,
        )
        clock = ShiftedClock(period.start_ts)
        sim.simulator.billing = ShiftedLedger(clock)
        app = create_app(GatewayConfig(settings, database_url, redis_url, catalog, clock=clock))
        with _Serving(app, _free_port()) as serving:
            base = f"http://127.0.0.1:{serving.server.config.port}"
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                yield ShiftedGateway(client, clock, sim)


async def wait_recorded(pool: asyncpg.Pool, slugs: list[str], expected: int, timeout: float = 60) -> None:
    """Until the vault holds ``expected`` requests of these customers (the loader is async)."""
    deadline = time.monotonic() + timeout
    while await recorded(pool, slugs) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the vault loader did not record every request within {timeout:g} s")
        await asyncio.sleep(0.1)


async def replay_month(
    period: Period,
    *,
    database_url: str,
    redis_url: str,
    work_dir: Path,
    pool: asyncpg.Pool,
    scale: float = 1.0,
    seed: int = 7,
    customers: list[DemoCustomer] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrafficSummary:
    """Send the month's requests through a real gateway stamped at their simulated times and
    wait until every one of them is in the raw vault."""
    customers = customers or scenario()
    slugs = [c.slug for c in customers]
    rng = random.Random(seed)
    keys = await ensure_customers(pool, customers)
    before = await recorded(pool, slugs)
    summary = TrafficSummary(period, outage_day=_first_weekday_from(period, 10), keys=keys)
    plan = _schedule(period, customers, scale, rng)
    outage_start = period.start_ts + timedelta(days=summary.outage_day - 1)
    outage_end = outage_start + timedelta(days=1)  # OpenAI answers 503 all day: Azure takes over
    async with shifted_gateway(database_url, redis_url, work_dir, period) as gw:
        faults = gw.sim.simulator.faults
        outage = False
        for i, (at, c, team, model, user) in enumerate(plan):
            if not outage and outage_start <= at < outage_end:
                faults.add(FaultSpec(kind="http_503", match=FaultMatch(api_style="openai")))
                outage = True
            elif outage and at >= outage_end:
                faults.clear()
                outage = False
            response = await gw.send(
                keys[c.slug],
                at,
                model,
                team=team,
                user=user,
                words=rng.randint(8, 60),
                max_tokens=rng.choice((64, 128, 256)),
            )
            summary.sent += 1
            summary.statuses[response.status_code] += 1
            summary.by_customer[c.slug] += 1
            if response.status_code == 200 and "failover" in response.json()["route"]["reason"]:
                summary.failovers += 1
            elif response.status_code == 402:
                summary.budget_refusals[c.slug] += 1
            if progress is not None:
                progress(i + 1, len(plan))
        faults.clear()
        await wait_recorded(pool, slugs, before + summary.sent)
    return summary


def previous_month(now: datetime | None = None) -> Period:
    return Period.of((now or datetime.now(UTC)).date()).previous()
